export type { ErasureCodec } from './types.js';
export { referenceCodec } from './reference.js';
export { erasureCodec, PooledCodec } from './fast.js';
export { CodecPool, configureCodecPool } from './pool.js';
export { decodeRows, encodingMatrix } from './gf256.js';
export { SimdKernel } from './simd-kernel.js';
