export * from './packages.module.js';
export * from './packages.service.js';
export * from './transactions.js';
