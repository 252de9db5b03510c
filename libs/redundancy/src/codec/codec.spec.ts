import { afterAll, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { CodecPool } from './pool.js';
import { PooledCodec } from './fast.js';
import { encodingMatrix, gfExp, gfMul, matInvert } from './gf256.js';
import { referenceCodec } from './reference.js';
import { SimdKernel } from './simd-kernel.js';
import type { ErasureCodec } from './types.js';
import { vectorBlock } from './vector-data.js';
import { backblazeOneEncode, generatedVectors, klauspostGalois, klauspostInverses } from './vectors.js';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const pool = new CodecPool(2);
afterAll(() => pool.close());

/** Both implementations, each under the same tests. */
const codecs: Array<[string, (k: number, n: number) => ErasureCodec]> = [
  ['reference', referenceCodec],
  ['pooled SIMD', (k, n) => new PooledCodec(k, n, () => pool)],
];

/** Every subset of 0..n-1 of size exactly `size`. */
function subsets(n: number, size: number): number[][] {
  if (size === 0) return [[]];
  const out: number[][] = [];
  for (let first = 0; first <= n - size; first++) for (const rest of subsets(n, size - 1)) if (rest.every((r) => r > first)) out.push([first, ...rest]);
  return out;
}

describe('GF(2^8) and the matrix (klauspost/Backblaze published values)', () => {
  it('multiplies and raises to powers like galois.go', () => {
    for (const [a, b, p] of klauspostGalois.mul) expect(gfMul(a, b)).toBe(p);
    for (const [a, e, p] of klauspostGalois.exp) expect(gfExp(a, e)).toBe(p);
    for (const [c, expected] of Object.entries(klauspostGalois.mulSlice)) {
      expect(klauspostGalois.mulSliceInput.map((x) => gfMul(Number(c), x))).toEqual(expected);
    }
  });

  it('inverts like matrix.go', () => {
    for (const { matrix, inverse } of klauspostInverses) {
      expect(matInvert(matrix.map((r) => Uint8Array.from(r))).map((r) => [...r])).toEqual(inverse);
    }
    expect(() => matInvert([Uint8Array.from([1, 2]), Uint8Array.from([2, 4])])).toThrow(/singular/);
  });

  it('is systematic: the top k rows are the identity', () => {
    for (const [k, n] of [[2, 3], [4, 6], [10, 14], [17, 20]]) {
      const m = encodingMatrix(k, n);
      for (let r = 0; r < k; r++) expect([...m[r]]).toEqual([...Array(k).keys()].map((c) => (c === r ? 1 : 0)));
    }
  });

  it('the SIMD kernel multiplies by every coefficient like the tables', () => {
    const kernel = new SimdKernel();
    const input = Uint8Array.from({ length: 256 }, (_, x) => x);
    const out = new Uint8Array(256);
    for (let c = 0; c < 256; c++) {
      kernel.multiply(Uint8Array.of(c), 1, 1, [input], [out], 256);
      expect([...out]).toEqual([...input].map((x) => gfMul(c, x)));
    }
  });
});

describe.each(codecs)('%s codec', (_name, make) => {
  it("encodes Backblaze's testOneEncode vector", async () => {
    const { k, n, data, parity } = backblazeOneEncode;
    const got = await make(k, n).encode(data.map((d) => Buffer.from(d)));
    expect(got.map((b) => [...b])).toEqual(parity);
  });

  it.each(generatedVectors.map((v) => [`k=${v.k} n=${v.n} length ${v.length}`, v] as const))('encodes the fixed vector %s', async (_label, v) => {
    const data = Array.from({ length: v.k }, (_, i) => vectorBlock(v.seed, i, v.length));
    expect(sha256(data[0])).toBe(v.dataSha256);
    const parity = await make(v.k, v.n).encode(data);
    expect(parity).toHaveLength(v.n - v.k);
    if (v.parityHex) expect(parity.map((b) => b.toString('hex'))).toEqual(v.parityHex);
    else expect(parity.map(sha256)).toEqual(v.paritySha256);
  });

  it('rebuilds every block after losing any combination of up to n-k, for every k <= 6 and n-k <= 3', async () => {
    for (let k = 1; k <= 6; k++) {
      for (let m = 1; m <= 3; m++) {
        const n = k + m;
        const codec = make(k, n);
        await fc.assert(
          fc.asyncProperty(fc.integer({ min: 0, max: 300 }), fc.integer(), async (length, seed) => {
            const data = Array.from({ length: k }, (_, i) => vectorBlock(seed, i, length));
            const all = [...data, ...(await codec.encode(data))];
            for (let lose = 1; lose <= m; lose++) {
              for (const lost of subsets(n, lose)) {
                const shards = all.map((b, i) => (lost.includes(i) ? null : b));
                const got = await codec.reconstruct(shards, [...Array(n).keys()]);
                got.forEach((b, i) => expect(b.equals(all[i])).toBe(true));
              }
            }
          }),
          { seed: 9_0401 + k * 10 + m, numRuns: 3 },
        );
      }
    }
  });

  it('rebuilds exactly the wanted blocks, in want order, repeats allowed', async () => {
    const codec = make(4, 6);
    const data = Array.from({ length: 4 }, (_, i) => vectorBlock(7, i, 1001));
    const all = [...data, ...(await codec.encode(data))];
    const got = await codec.reconstruct([null, all[1], null, all[3], all[4], all[5]], [5, 2, 0, 2]);
    expect(got[0].equals(all[5]) && got[1].equals(all[2]) && got[2].equals(all[0]) && got[3].equals(all[2])).toBe(true);
  });

  it('fails cleanly with fewer than k blocks, and on malformed input', async () => {
    const codec = make(4, 6);
    const b = Buffer.alloc(10, 1);
    await expect(codec.reconstruct([b, null, null, b, null, b], [1])).rejects.toThrow(/3 of 6 blocks present, need 4/);
    await expect(codec.reconstruct([b, b, b, b], [0])).rejects.toThrow(/6 shard entries/);
    await expect(codec.reconstruct([b, b, b, Buffer.alloc(9), null, null], [4])).rejects.toThrow(/differ in length/);
    await expect(codec.reconstruct([b, b, b, b, null, null], [6])).rejects.toThrow(/out of range/);
    await expect(codec.encode([b, b, b])).rejects.toThrow(/4 data blocks/);
    await expect(codec.encode([b, b, b, Buffer.alloc(11)])).rejects.toThrow(/differ in length/);
    expect(() => make(3, 3)).toThrow(/1 <= k < n <= 256/);
  });

  it('handles length 0 and odd lengths around the kernel width', async () => {
    const ref = referenceCodec(3, 5);
    const codec = make(3, 5);
    for (const length of [0, 1, 15, 16, 17, 31, 32, 33, 4095, 4096, 4097, 8191]) {
      const data = Array.from({ length: 3 }, (_, i) => vectorBlock(length, i, length));
      const parity = await codec.encode(data);
      expect(parity.map((p) => p.length)).toEqual([length, length]);
      const expected = await ref.encode(data);
      expect(parity.every((p, i) => p.equals(expected[i]))).toBe(true);
      const back = await codec.reconstruct([null, data[1], null, parity[0], parity[1]], [0, 2]);
      expect(back[0].equals(data[0]) && back[1].equals(data[2])).toBe(true);
    }
  });

  it('resolves many concurrent encodes, each with its own bytes', async () => {
    const codec = make(4, 6);
    const ref = referenceCodec(4, 6);
    const inputs = Array.from({ length: 40 }, (_, j) => Array.from({ length: 4 }, (_, i) => vectorBlock(j, i, 2000 + j)));
    const got = await Promise.all(inputs.map((d) => codec.encode(d)));
    for (let j = 0; j < inputs.length; j++) {
      const expected = await ref.encode(inputs[j]);
      expect(got[j].every((p, i) => p.equals(expected[i]))).toBe(true);
    }
  });

  it('never changes the caller’s buffers (they stay usable, e.g. Buffer pool slices)', async () => {
    const codec = make(2, 3);
    const slab = Buffer.from('abcdefghijklmnopqrstuvwxyz');
    const a = slab.subarray(0, 13);
    const b = slab.subarray(13);
    await codec.encode([a, b]);
    expect(slab.toString()).toBe('abcdefghijklmnopqrstuvwxyz');
  });
});

describe('the worker pool', () => {
  it('rejects the jobs of a worker that dies and replaces it', async () => {
    const own = new CodecPool(1);
    try {
      const codec = new PooledCodec(2, 3, () => own);
      const data = [vectorBlock(1, 0, 4 << 20), vectorBlock(1, 1, 4 << 20)];
      const expected = await referenceCodec(2, 3).encode([data[0].subarray(0, 100), data[1].subarray(0, 100)]);
      await codec.encode(data); // the worker is up
      const job = codec.encode(data);
      await own.workers()[0].terminate();
      await expect(job).rejects.toThrow(/job lost/);
      const again = await codec.encode([data[0].subarray(0, 100), data[1].subarray(0, 100)]);
      expect(again[0].equals(expected[0])).toBe(true);
    } finally {
      await own.close();
    }
  });

  it('refuses a bad size', () => {
    expect(() => new CodecPool(0)).toThrow(/positive integer/);
  });
});
