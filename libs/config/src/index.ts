export * from './config.js';
export * from './master-key.js';
