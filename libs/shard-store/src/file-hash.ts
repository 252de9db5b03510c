import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { DomainError } from '#common';

/**
 * File hashes of spec §5: `Full` + 64 upper-case hex of the content's SHA-256, or, for an open
 * multipart upload, `Comp` + SHA-256 over the parts' raw 32-byte digests in index order.
 */
export const fullHash = (digest: Buffer): string => 'Full' + digest.toString('hex').toUpperCase();

export const EMPTY_FULL_HASH = fullHash(createHash('sha256').digest());

export function compositeHash(partDigests: Buffer[]): string {
  const h = createHash('sha256');
  for (const d of partDigests) h.update(d);
  return 'Comp' + h.digest('hex').toUpperCase();
}

/** The raw digest of a `Full…` hash. */
export function digestOf(fileHash: string): Buffer {
  if (!/^Full[0-9A-F]{64}$/.test(fileHash)) throw new Error(`not a Full file hash: ${fileHash}`);
  return Buffer.from(fileHash.slice(4), 'hex');
}

/**
 * A pass-through that hashes and counts the bytes flowing through it, once, while they stream, and
 * fails the stream as soon as it grows past `maxSize`.
 */
export class HashingTap extends Transform {
  private readonly hash = createHash('sha256');
  /** S3 writes only: their ETag, computed in the same pass (one read of the bytes). */
  private readonly md5Hash;
  size = 0;

  constructor(
    private readonly maxSize = Number.MAX_SAFE_INTEGER,
    md5 = false,
  ) {
    super({ highWaterMark: 1 << 20 });
    this.md5Hash = md5 ? createHash('md5') : undefined;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.size += chunk.length;
    if (this.size > this.maxSize) {
      cb(new DomainError('QuotaExceeded', `object is larger than the limit of ${this.maxSize} bytes`, 413));
      return;
    }
    this.hash.update(chunk);
    this.md5Hash?.update(chunk);
    cb(null, chunk);
  }

  /** The MD5 when asked for; valid once the stream has ended. */
  md5(): Buffer | undefined {
    return this.md5Hash?.digest();
  }

  /** The digest; valid once the stream has ended. */
  digest(): Buffer {
    return this.hash.digest();
  }
}
