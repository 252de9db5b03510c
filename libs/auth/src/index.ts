export * from './auth.module.js';
export * from './tenants.service.js';
export * from './sigv4/index.js';
