import { createHash, type Hash } from 'node:crypto';
import { PassThrough, Writable } from 'node:stream';
import { DomainError } from '#common';
import { GranuleSummer } from './granules.js';
import type { StoredPolicy } from './policy.js';

/** The part of the codec the encoder needs (red-codec's erasureCodec): parity blocks of one stripe's k data chunks. */
export interface ParityCodec {
  encode(data: Buffer[]): Buffer[] | Promise<Buffer[]>;
}

/** What a block is once its bytes have all been produced: its content hash and granule checksums. */
export interface EncodedBlock {
  index: number;
  /** `Full` + SHA-256 (the block's shard fileHash). */
  fileHash: string;
  digest: Buffer;
  size: number;
  granuleSums: Buffer;
}

export interface BlockEncoderOptions {
  /** Needed for `ec`. */
  codec?: ParityCodec;
  granuleSize: number;
  /** Bytes over which the object fails with QuotaExceeded 413 (JCS_MAX_OBJECT_SIZE). */
  maxSize?: number;
}

const fullHash = (digest: Buffer) => 'Full' + digest.toString('hex').toUpperCase();

/**
 * The write side of a stored policy as a stream: object bytes in, one Readable per block out
 * (`outputs[i]`, to stage on block i's space). `none` has one block, `rep` repCount identical copies
 * (hashed once: they are the same bytes), `ec` k data blocks (chunk i of each stripe) and n−k parity
 * blocks, encoded stripe by stripe as the body arrives, the last stripe zero-padded (StripeLayout).
 *
 * Every block is hashed (SHA-256 → its fileHash) and granule-summed as it is produced, once. Memory
 * is bounded by a few stripes: the next body chunk is not taken until every live output has room
 * (backpressure from the slowest space to the client). An output that fails (its space's write
 * failed: the consumer destroys it) is dropped, but its bytes are still hashed, so the block's
 * expected fileHash and sums are known (it is recorded as missing and repaired later).
 */
export class BlockEncoder extends Writable {
  readonly outputs: PassThrough[];
  private readonly hashes: Hash[];
  private readonly summers: GranuleSummer[];
  private readonly objectHash = createHash('sha256');
  private size = 0;
  private stripe?: Buffer;
  private filled = 0;
  private readonly k: number;
  private readonly chunkSize: number;
  private readonly distinct: number;
  private blocks?: EncodedBlock[];
  private objectDigest?: Buffer;

  constructor(
    readonly policy: StoredPolicy,
    private readonly opts: BlockEncoderOptions,
  ) {
    super({ highWaterMark: 1 << 20 });
    const n = policy.type === 'none' ? 1 : policy.type === 'rep' ? policy.repCount : policy.n;
    this.k = policy.type === 'ec' ? policy.k : 1;
    this.chunkSize = policy.type === 'ec' ? policy.chunkSize : 0;
    if (policy.type === 'ec' && !opts.codec) throw new Error('an ec encoder needs a codec');
    // rep copies are the same bytes: one hash and one summer for all of them.
    this.distinct = policy.type === 'ec' ? n : 1;
    this.hashes = Array.from({ length: this.distinct }, () => createHash('sha256'));
    this.summers = Array.from({ length: this.distinct }, () => new GranuleSummer(opts.granuleSize));
    const hwm = Math.max(this.chunkSize, 1 << 20);
    this.outputs = Array.from({ length: n }, () => {
      const out = new PassThrough({ highWaterMark: hwm });
      out.on('error', () => undefined); // reported through the consumer of the output
      return out;
    });
  }

  /** The blocks (after 'finish'). */
  encoded(): EncodedBlock[] {
    if (!this.blocks) throw new Error('the encoder has not finished');
    return this.blocks;
  }

  /** The object's size and SHA-256 (after 'finish'). */
  object(): { size: number; digest: Buffer } {
    if (!this.objectDigest) throw new Error('the encoder has not finished');
    return { size: this.size, digest: this.objectDigest };
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    this.size += chunk.length;
    if (this.opts.maxSize !== undefined && this.size > this.opts.maxSize) {
      cb(new DomainError('QuotaExceeded', `object is larger than the limit of ${this.opts.maxSize} bytes`, 413));
      return;
    }
    this.objectHash.update(chunk);
    this.take(chunk).then(() => cb(), cb);
  }

  override _final(cb: (e?: Error | null) => void): void {
    const last = this.stripe && this.filled > 0 ? this.stripe.fill(0, this.filled) : undefined;
    (last ? this.encodeStripe(last) : Promise.resolve()).then(() => {
      this.objectDigest = this.objectHash.digest();
      const digests = this.hashes.map((h) => h.digest());
      const sums = this.summers.map((s) => s.finish());
      const blockSize = this.policy.type === 'ec' ? Math.ceil(this.size / (this.k * this.chunkSize)) * this.chunkSize : this.size;
      this.blocks = this.outputs.map((_, i) => {
        const d = this.distinct === 1 ? 0 : i;
        return { index: i, digest: digests[d]!, fileHash: fullHash(digests[d]!), size: blockSize, granuleSums: sums[d]! };
      });
      for (const o of this.outputs) if (!o.destroyed) o.end();
      cb();
    }, cb);
  }

  override _destroy(err: Error | null, cb: (e?: Error | null) => void): void {
    // After a normal finish (autoDestroy) the outputs are ended and may still hold bytes their
    // consumers have not read: only a failure or an early end destroys them.
    if (err || !this.blocks) for (const o of this.outputs) o.destroy(err ?? new Error('the object stream ended early'));
    cb(err);
  }

  private async take(chunk: Buffer): Promise<void> {
    if (this.policy.type !== 'ec') {
      this.hashes[0]!.update(chunk);
      this.summers[0]!.update(chunk);
      await this.emit_(this.outputs.map(() => chunk));
      return;
    }
    const stripeBytes = this.k * this.chunkSize;
    let off = 0;
    while (off < chunk.length) {
      this.stripe ??= Buffer.allocUnsafe(stripeBytes);
      const n = chunk.copy(this.stripe, this.filled, off, Math.min(chunk.length, off + stripeBytes - this.filled));
      this.filled += n;
      off += n;
      if (this.filled === stripeBytes) {
        const full = this.stripe;
        this.stripe = undefined; // the outputs keep references to the full one's chunks
        this.filled = 0;
        await this.encodeStripe(full);
      }
    }
  }

  private async encodeStripe(stripe: Buffer): Promise<void> {
    const data = Array.from({ length: this.k }, (_, i) => stripe.subarray(i * this.chunkSize, (i + 1) * this.chunkSize));
    const parity = await this.opts.codec!.encode(data);
    const all = [...data, ...parity];
    all.forEach((b, i) => {
      this.hashes[i]!.update(b);
      this.summers[i]!.update(b);
    });
    await this.emit_(all);
  }

  /** Writes piece i to output i; resolves when every live output has room again. */
  private async emit_(pieces: Buffer[]): Promise<void> {
    const waits: Array<Promise<void>> = [];
    pieces.forEach((p, i) => {
      const out = this.outputs[i]!;
      if (out.destroyed || out.writableEnded) return;
      if (!out.write(p)) waits.push(roomIn(out));
    });
    if (waits.length) await Promise.all(waits);
  }
}

/** Resolves on 'drain' or when the output is gone (a failed space must not stall the others). */
function roomIn(out: PassThrough): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      out.off('drain', done).off('close', done);
      resolve();
    };
    out.on('drain', done).on('close', done);
  });
}
