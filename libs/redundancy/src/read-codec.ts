import { erasureCodec } from './codec/index.js';
import type { ReconstructingCodec } from './decoder.js';

/**
 * A small pure-JS Reed–Solomon codec (GF(2^8), polynomial 0x11d, klauspost/reedsolomon's
 * Vandermonde-derived systematic matrix): the decoder's unit tests use it as an independent model.
 * Reads use `codecFor` (the worker-pool codec of ./codec).
 */
const EXP = new Uint8Array(512);
const LOG = new Uint8Array(256);
{
  let x = 1;
  for (let i = 0; i < 255; i++) {
    EXP[i] = x;
    LOG[x] = i;
    x <<= 1;
    if (x & 0x100) x ^= 0x11d;
  }
  for (let i = 255; i < 512; i++) EXP[i] = EXP[i - 255]!;
}
const mul = (a: number, b: number) => (a === 0 || b === 0 ? 0 : EXP[LOG[a]! + LOG[b]!]!);
const exp = (a: number, n: number) => (n === 0 ? 1 : a === 0 ? 0 : EXP[(LOG[a]! * n) % 255]!);

function invert(m: number[][]): number[][] {
  const size = m.length;
  const a = m.map((row, i) => [...row, ...Array.from({ length: size }, (_, j) => (i === j ? 1 : 0))]);
  for (let c = 0; c < size; c++) {
    let p = c;
    while (p < size && a[p]![c] === 0) p++;
    if (p === size) throw new Error('singular matrix');
    [a[c], a[p]] = [a[p]!, a[c]!];
    const inv = EXP[255 - LOG[a[c]![c]!]!]!;
    a[c] = a[c]!.map((v) => mul(v, inv));
    for (let r = 0; r < size; r++) {
      if (r === c || a[r]![c] === 0) continue;
      const f = a[r]![c]!;
      a[r] = a[r]!.map((v, j) => v ^ mul(f, a[c]![j]!));
    }
  }
  return a.map((row) => row.slice(size));
}

function matMul(a: number[][], b: number[][]): number[][] {
  return a.map((row) => b[0]!.map((_, j) => row.reduce((acc, v, t) => acc ^ mul(v, b[t]![j]!), 0)));
}

/** Rows 0..n-1 of the systematic encoding matrix (the top k rows are the identity). */
function encodingMatrix(k: number, n: number): number[][] {
  const vm = Array.from({ length: n }, (_, r) => Array.from({ length: k }, (_, c) => exp(r, c)));
  return matMul(vm, invert(vm.slice(0, k)));
}

/** out = Σ coeffs[j] · inputs[j] over GF(2^8), byte by byte. */
function combine(coeffs: number[], inputs: Buffer[], len: number): Buffer {
  const out = Buffer.alloc(len);
  coeffs.forEach((c, j) => {
    if (c === 0) return;
    const row = new Uint8Array(256);
    for (let v = 0; v < 256; v++) row[v] = mul(c, v);
    const src = inputs[j]!;
    for (let i = 0; i < len; i++) out[i]! ^= row[src[i]!]!;
  });
  return out;
}

export interface SimpleCodec extends ReconstructingCodec {
  encode(data: Buffer[]): Promise<Buffer[]>;
}

export function simpleCodec(k: number, n: number): SimpleCodec {
  const matrix = encodingMatrix(k, n);
  return {
    async encode(data) {
      const len = data[0]!.length;
      return matrix.slice(k).map((row) => combine(row, data, len));
    },
    async reconstruct(shards, want) {
      const have = shards.map((s, i) => (s ? i : -1)).filter((i) => i >= 0).slice(0, k);
      if (have.length < k) throw new Error(`reconstruct needs ${k} shards, got ${have.length}`);
      const len = shards[have[0]!]!.length;
      const inputs = have.map((i) => shards[i]!);
      const decode = invert(have.map((i) => matrix[i]!));
      return want.map((w) => {
        if (shards[w]) return shards[w]!;
        // Row w of the code applied to the data, which is decode · inputs.
        const coeffs = matMul([matrix[w]!], decode)[0]!;
        return combine(coeffs, inputs, len);
      });
    },
  };
}

/** The codec of `ec` reads, rebuilds and repairs: the worker-pool codec (off the event loop). */
export function codecFor(k: number, n: number): SimpleCodec {
  return erasureCodec(k, n);
}
