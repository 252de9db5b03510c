export * from './buckets.module.js';
export * from './buckets.service.js';
