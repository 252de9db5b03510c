export * from './granules.js';
export * from './layout.js';
export * from './policy.js';
export * from './jobs.js';
export * from './decoder.js';
export * from './read-codec.js';
