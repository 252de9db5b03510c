export * from './file-hash.js';
export * from './shard-store.js';
export * from './shard-registry.js';
export * from './instance-heartbeat.js';
