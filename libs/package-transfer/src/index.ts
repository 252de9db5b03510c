export * from './package-transfer.service.js';
export * from './package-transfer.module.js';
