export * from './packages.module.js';
export * from './packages.service.js';
