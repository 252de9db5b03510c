export * from './errors.js';
export * from './validation.js';
export * from './secret-box.js';
export * from './time.js';
export * from './bounded.js';
export * from './strict-json.js';
export * from './redact.js';
