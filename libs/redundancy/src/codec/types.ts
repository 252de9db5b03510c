export interface ErasureCodec {
  /** Data blocks. */
  readonly k: number;
  /** Blocks in all (n - k parity). */
  readonly n: number;
  /** data: k buffers of equal length L (L may be 0). Resolves n-k parity buffers of length L. */
  encode(data: Buffer[]): Promise<Buffer[]>;
  /**
   * shards: n entries (index = block index), null where missing; at least k present, all of equal length.
   * Resolves the buffers of the block indexes in `want` (data or parity), rebuilt, in `want` order.
   * Throws (a plain Error) when fewer than k are present.
   */
  reconstruct(shards: Array<Buffer | null>, want: number[]): Promise<Buffer[]>;
}
