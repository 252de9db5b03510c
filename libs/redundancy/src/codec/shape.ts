/** Argument checks and the reconstruction plan shared by every codec implementation. */

export function checkEncodeInput(k: number, data: Buffer[]): number {
  if (!Array.isArray(data) || data.length !== k) {
    throw new Error(`erasure codec: encode needs ${k} data blocks, got ${data?.length}`);
  }
  const len = data[0].length;
  for (const d of data) {
    if (!(d instanceof Uint8Array) || d.length !== len) throw new Error('erasure codec: data blocks differ in length');
  }
  return len;
}

export interface ReconstructPlan {
  /** Length of every block. */
  length: number;
  /** The k present block indexes the rebuild reads, ascending. */
  use: number[];
  /** The wanted indexes that are missing and must be computed (deduplicated, in first-seen order). */
  missing: number[];
}

export function planReconstruct(k: number, n: number, shards: Array<Buffer | null>, want: number[]): ReconstructPlan {
  if (!Array.isArray(shards) || shards.length !== n) {
    throw new Error(`erasure codec: reconstruct needs ${n} shard entries, got ${shards?.length}`);
  }
  let length = -1;
  const use: number[] = [];
  for (let i = 0; i < n; i++) {
    const s = shards[i];
    if (s === null || s === undefined) continue;
    if (length < 0) length = s.length;
    else if (s.length !== length) throw new Error('erasure codec: shards differ in length');
    // The lowest k present indexes: data blocks first, so a healthy data set needs no inversion work.
    if (use.length < k) use.push(i);
  }
  if (use.length < k) throw new Error(`erasure codec: ${use.length} of ${n} blocks present, need ${k}`);
  const missing: number[] = [];
  for (const w of want) {
    if (!Number.isInteger(w) || w < 0 || w >= n) throw new Error(`erasure codec: block index ${w} out of range`);
    if ((shards[w] === null || shards[w] === undefined) && !missing.includes(w)) missing.push(w);
  }
  return { length, use, missing };
}
