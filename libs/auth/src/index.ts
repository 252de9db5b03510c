export * from './auth.module.js';
export * from './tenants.service.js';
