export { MIGRATIONS } from '#migrations';
