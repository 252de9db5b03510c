import { checkShape, encodingMatrix, gfMul, decodeRows, Matrix } from './gf256.js';
import { checkEncodeInput, planReconstruct } from './shape.js';
import type { ErasureCodec } from './types.js';

/** out[j][x] = sum_i rows[j][i] * inputs[i][x], one byte at a time through the log/exp tables. */
function multiply(rows: Matrix, inputs: Uint8Array[], length: number): Buffer[] {
  return rows.map((row) => {
    const out = Buffer.alloc(length);
    for (let i = 0; i < inputs.length; i++) {
      const c = row[i];
      if (c === 0) continue;
      const input = inputs[i];
      for (let x = 0; x < length; x++) out[x] ^= gfMul(c, input[x]);
    }
    return out;
  });
}

class ReferenceCodec implements ErasureCodec {
  private readonly matrix: Matrix;

  constructor(
    readonly k: number,
    readonly n: number,
  ) {
    checkShape(k, n);
    this.matrix = encodingMatrix(k, n);
  }

  async encode(data: Buffer[]): Promise<Buffer[]> {
    const length = checkEncodeInput(this.k, data);
    return multiply(this.matrix.slice(this.k), data, length);
  }

  async reconstruct(shards: Array<Buffer | null>, want: number[]): Promise<Buffer[]> {
    const { length, use, missing } = planReconstruct(this.k, this.n, shards, want);
    const rebuilt = new Map<number, Buffer>();
    if (missing.length > 0) {
      const rows = decodeRows(this.matrix, this.k, use, missing);
      const outs = multiply(rows, use.map((i) => shards[i] as Buffer), length);
      missing.forEach((w, j) => rebuilt.set(w, outs[j]));
    }
    return want.map((w) => rebuilt.get(w) ?? (shards[w] as Buffer));
  }
}

/** Pure-JavaScript codec on the caller's thread: slow (byte-at-a-time), for tests and cross-checks. */
export function referenceCodec(k: number, n: number): ErasureCodec {
  return new ReferenceCodec(k, n);
}
