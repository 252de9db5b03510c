export * from './local-root.js';
export * from './space-drivers.js';
export * from './space-spec.js';
export * from './spaces.service.js';
export * from './user-spaces.module.js';
export * from './user-spaces.service.js';
