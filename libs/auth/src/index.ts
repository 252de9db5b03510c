export * from './auth.module.js';
export * from './tenants.service.js';
export { AccessKeyCache, ACCESS_KEY_CHANNEL, type LiveKey } from './access-key-cache.js';
export * from './sigv4/index.js';
