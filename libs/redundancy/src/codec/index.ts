export type { ErasureCodec } from './types.js';
export { referenceCodec } from './reference.js';
export { erasureCodec } from './fast.js';
export { encodingMatrix } from './gf256.js';
