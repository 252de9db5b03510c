export * from './entities/index.js';
export * from './data-source.js';
export * from './sql.js';
export * from './rows.js';
