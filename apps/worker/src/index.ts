export { startWorker } from './bootstrap.js';
