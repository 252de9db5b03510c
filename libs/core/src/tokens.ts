/** Injection tokens of the core module. */
export const SECRET_BOX = Symbol('SECRET_BOX');
export const REDIS = Symbol('REDIS');
