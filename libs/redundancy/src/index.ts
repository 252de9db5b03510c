export * from './granules.js';
export * from './layout.js';
export * from './policy.js';
export * from './jobs.js';
export * from './placement.js';
export * from './encoder.js';
export * from './codec/index.js';
