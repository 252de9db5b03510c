import { createCipheriv } from 'node:crypto';
import { Readable } from 'node:stream';

const CHUNK = 1 << 20;
const ZEROS = Buffer.alloc(CHUNK);

function keystream(seed: number) {
  const key = Buffer.alloc(16);
  key.writeUInt32LE(seed >>> 0, 0);
  key.writeUInt32LE(0x6a63_7362, 4); // "jcsb": keeps seed 0 distinct from an all-zero key
  return createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
}

/**
 * Deterministic pseudo-random bytes made on the fly in 1 MiB chunks: the AES-128-CTR keystream of a
 * seed. AES-NI makes it ~5 GB/s on one core here, where the xorshift loop of test/support/multipart.ts
 * manages ~0.24 GB/s and would make the client, not the server, the bottleneck of a 1 GiB upload.
 * Pseudo-random so no layer can compress or deduplicate within the stream.
 */
export function pseudoRandomStream(size: number, seed: number): Readable {
  const cipher = keystream(seed);
  let left = size;
  return new Readable({
    highWaterMark: CHUNK,
    read() {
      if (left === 0) return void this.push(null);
      const n = Math.min(left, CHUNK);
      left -= n;
      this.push(cipher.update(n === CHUNK ? ZEROS : ZEROS.subarray(0, n)));
    },
  });
}

/** `size` pseudo-random bytes as a Buffer (for small objects). */
export function pseudoRandomBytes(size: number, seed: number): Buffer {
  return keystream(seed).update(Buffer.alloc(size));
}

/** Deterministic PRNG (mulberry32) for reproducible random offsets. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
