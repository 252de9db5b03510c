export * from './core.module.js';
export * from './redis.js';
export * from './tokens.js';
