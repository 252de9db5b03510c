import { referenceCodec } from './reference.js';
import type { ErasureCodec } from './types.js';

const cache = new Map<string, ErasureCodec>();

/** The codec the gateway uses, one per (k, n). */
export function erasureCodec(k: number, n: number): ErasureCodec {
  const key = `${k}/${n}`;
  let codec = cache.get(key);
  if (!codec) {
    // Placeholder until the worker-thread codec lands: same interface, same bytes.
    codec = referenceCodec(k, n);
    cache.set(key, codec);
  }
  return codec;
}
