/** Deterministic test input: block i of a vector is xorshift32 bytes seeded from (seed, i). */
export function vectorBlock(seed: number, index: number, length: number): Buffer {
  const out = Buffer.alloc(length);
  let s = (Math.imul(seed, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca6b)) >>> 0 || 1;
  for (let x = 0; x < length; x++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[x] = s & 0xff;
  }
  return out;
}
