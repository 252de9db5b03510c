export * from './garbage-collector.js';
export * from './garbage-collector.module.js';
