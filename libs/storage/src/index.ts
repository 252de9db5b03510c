export * from './driver.js';
export * from './safe-key.js';
export * from './checked-driver.js';
export * from './local-driver.js';
export * from './s3-driver.js';
export * from './obs-driver.js';
export * from './driver-factory.js';
export * from './guarded-agents.js';
