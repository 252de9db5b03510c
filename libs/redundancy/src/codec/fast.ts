import { checkShape, decodeRows, encodingMatrix, Matrix } from './gf256.js';
import { CodecPool, sharedCodecPool } from './pool.js';
import { checkEncodeInput, planReconstruct } from './shape.js';
import type { ErasureCodec } from './types.js';

function flatten(rows: Matrix): Uint8Array {
  const width = rows[0]?.length ?? 0;
  const out = new Uint8Array(rows.length * width);
  rows.forEach((r, i) => out.set(r, i * width));
  return out;
}

/** Copies the blocks into one ArrayBuffer of the pool: the caller keeps its Buffers, the copy is transferred. */
function pack(pool: CodecPool, blocks: Uint8Array[], length: number): ArrayBuffer {
  const ab = pool.inputBuffer(blocks.length * length);
  const view = new Uint8Array(ab);
  blocks.forEach((b, i) => view.set(b, i * length));
  return ab;
}

function unpack(ab: ArrayBuffer, count: number, length: number): Buffer[] {
  return Array.from({ length: count }, (_, i) => Buffer.from(ab, i * length, length));
}

/** Keeps at most this many decode matrices per codec (one per set of present/missing blocks). */
const DECODE_CACHE = 256;

/** The pool-backed codec: the SIMD kernel in worker threads, the same bytes as referenceCodec. */
export class PooledCodec implements ErasureCodec {
  private readonly matrix: Matrix;
  private readonly parityRows: Uint8Array;
  private readonly decodeCache = new Map<string, Uint8Array>();

  constructor(
    readonly k: number,
    readonly n: number,
    private readonly pool: () => CodecPool,
  ) {
    checkShape(k, n);
    this.matrix = encodingMatrix(k, n);
    this.parityRows = flatten(this.matrix.slice(k));
  }

  async encode(data: Buffer[]): Promise<Buffer[]> {
    const length = checkEncodeInput(this.k, data);
    const m = this.n - this.k;
    if (length === 0) return Array.from({ length: m }, () => Buffer.alloc(0));
    const pool = this.pool();
    const out = await pool.run(this.parityRows, this.k, m, length, pack(pool, data, length));
    return unpack(out, m, length);
  }

  async reconstruct(shards: Array<Buffer | null>, want: number[]): Promise<Buffer[]> {
    const { length, use, missing } = planReconstruct(this.k, this.n, shards, want);
    const rebuilt = new Map<number, Buffer>();
    if (missing.length > 0) {
      let outs: Buffer[];
      if (length === 0) outs = missing.map(() => Buffer.alloc(0));
      else {
        const rows = this.decodeRows(use, missing);
        const pool = this.pool();
        const input = pack(pool, use.map((i) => shards[i] as Buffer), length);
        outs = unpack(await pool.run(rows, this.k, missing.length, length, input), missing.length, length);
      }
      missing.forEach((w, j) => rebuilt.set(w, outs[j]));
    }
    return want.map((w) => rebuilt.get(w) ?? (shards[w] as Buffer));
  }

  /** Rows over the present blocks `use` that give `missing`; the k×k inverse is the costly part, cached. */
  private decodeRows(use: number[], missing: number[]): Uint8Array {
    const key = `${use.join(',')}/${missing.join(',')}`;
    let rows = this.decodeCache.get(key);
    if (!rows) {
      rows = flatten(decodeRows(this.matrix, this.k, use, missing));
      if (this.decodeCache.size >= DECODE_CACHE) this.decodeCache.delete(this.decodeCache.keys().next().value as string);
      this.decodeCache.set(key, rows);
    }
    return rows;
  }
}

const cache = new Map<string, ErasureCodec>();

/** The codec the gateway uses: one per (k, n), all sharing the process-wide worker pool. */
export function erasureCodec(k: number, n: number): ErasureCodec {
  const key = `${k}/${n}`;
  let codec = cache.get(key);
  if (!codec) {
    codec = new PooledCodec(k, n, sharedCodecPool);
    cache.set(key, codec);
  }
  return codec;
}
