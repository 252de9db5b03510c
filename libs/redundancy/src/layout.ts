/**
 * Where an `ec` object's bytes live (spec §5, JCS-pub's layout): the object is cut in stripes of
 * k·chunkSize bytes; chunk i of every stripe goes to data block i (0..k-1), so block i is the
 * concatenation of its chunks, stripe after stripe; parity blocks k..n-1 hold the code of each stripe
 * at the same offsets. The last stripe is zero-padded, so every block has stripes·chunkSize bytes.
 */
export class StripeLayout {
  readonly stripeBytes: number;
  readonly stripes: number;
  /** Bytes of every block (data and parity). */
  readonly blockSize: number;

  constructor(
    readonly size: number,
    readonly k: number,
    readonly chunkSize: number,
  ) {
    this.stripeBytes = k * chunkSize;
    this.stripes = Math.ceil(size / this.stripeBytes);
    this.blockSize = this.stripes * chunkSize;
  }

  /** Where object byte `offset` lives: data block, and offset inside that block. */
  locate(offset: number): { block: number; blockOffset: number; stripe: number } {
    const stripe = Math.floor(offset / this.stripeBytes);
    const inStripe = offset - stripe * this.stripeBytes;
    const block = Math.floor(inStripe / this.chunkSize);
    return { block, blockOffset: stripe * this.chunkSize + (inStripe - block * this.chunkSize), stripe };
  }

  /**
   * The pieces of object bytes [start, end] (inclusive) in object order: each lies inside one chunk
   * of one data block (`blockStart`..`blockEnd` inclusive, in that block's bytes).
   */
  segments(start: number, end: number): Array<{ block: number; stripe: number; blockStart: number; blockEnd: number; objectStart: number }> {
    const out: Array<{ block: number; stripe: number; blockStart: number; blockEnd: number; objectStart: number }> = [];
    let o = start;
    while (o <= end) {
      const { block, blockOffset, stripe } = this.locate(o);
      const chunkEnd = (Math.floor(blockOffset / this.chunkSize) + 1) * this.chunkSize - 1;
      const len = Math.min(end - o + 1, chunkEnd - blockOffset + 1);
      out.push({ block, stripe, blockStart: blockOffset, blockEnd: blockOffset + len - 1, objectStart: o });
      o += len;
    }
    return out;
  }

  /**
   * The bytes every block must supply to rebuild any block's bytes for object bytes [start, end]: the
   * same column range in every block (Reed–Solomon works byte by byte, so rebuilding block bytes
   * [a, b] needs bytes [a, b] of k other blocks). One inclusive range in block bytes, covering the
   * stripes the span touches (exact when it lies in one chunk, else whole columns of the stripes touched).
   */
  columnRange(start: number, end: number): { blockStart: number; blockEnd: number } {
    const a = this.locate(start);
    const b = this.locate(end);
    if (a.stripe === b.stripe && a.block === b.block) return { blockStart: a.blockOffset, blockEnd: b.blockOffset };
    return { blockStart: a.stripe * this.chunkSize, blockEnd: (b.stripe + 1) * this.chunkSize - 1 };
  }
}
