import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import zlib from 'node:zlib';
import { Crc32c } from '@aws-crypto/crc32c';
import { s3Error } from './errors.js';

/** The additional checksums S3 clients send (x-amz-checksum-<name>, as a header or a trailer). */
export const CHECKSUMS = ['crc32', 'crc32c', 'sha1', 'sha256'] as const;
export type ChecksumName = (typeof CHECKSUMS)[number];

interface Running {
  update(b: Buffer): void;
  base64(): string;
}

function running(name: ChecksumName): Running {
  switch (name) {
    case 'crc32': {
      let c = 0;
      return { update: (b) => (c = zlib.crc32(b, c)), base64: () => u32(c) };
    }
    case 'crc32c': {
      const c = new Crc32c();
      return { update: (b) => void c.update(b), base64: () => u32(c.digest()) };
    }
    case 'sha1':
    case 'sha256': {
      const h: Hash = createHash(name);
      return { update: (b) => void h.update(b), base64: () => h.digest('base64') };
    }
  }
}

const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b.toString('base64');
};

/**
 * Passes the bytes through while computing one checksum, and fails at the end (before the stream
 * ends, so nothing is committed) when it differs from the expected value: BadDigest. The expected
 * value is known at the start (a header) or only once the trailer was read (`expected()` is asked at
 * the end).
 */
export class ChecksumTap extends Transform {
  private readonly sum: Running;

  constructor(
    readonly name: ChecksumName,
    private readonly expected: () => string | undefined,
  ) {
    super({ highWaterMark: 1 << 20 });
    this.sum = running(name);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.sum.update(chunk);
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    const want = this.expected();
    if (want === undefined) return cb(s3Error('InvalidRequest', `the x-amz-checksum-${this.name} trailer is missing`));
    if (want !== this.sum.base64()) {
      return cb(s3Error('BadDigest', `The ${this.name.toUpperCase()} you specified did not match the calculated checksum.`));
    }
    cb();
  }
}

/** A checksum value must be the base64 of the right number of bytes. */
export function assertChecksumValue(name: ChecksumName, value: string): void {
  const bytes = name === 'sha256' ? 32 : name === 'sha1' ? 20 : 4;
  if (!/^[A-Za-z0-9+/]+=*$/.test(value) || Buffer.from(value, 'base64').length !== bytes) {
    throw s3Error('InvalidRequest', `Value for x-amz-checksum-${name} header is invalid.`);
  }
}

/** The checksum a request declares: x-amz-checksum-<name> header (value now), or x-amz-trailer (value later). */
export function declaredChecksum(headers: Record<string, string | string[] | undefined>): { name: ChecksumName; value?: string; trailer: boolean } | undefined {
  const trailer = headers['x-amz-trailer'];
  if (typeof trailer === 'string' && trailer.trim() !== '') {
    const m = /^x-amz-checksum-([a-z0-9]+)$/.exec(trailer.trim().toLowerCase());
    if (!m || !(CHECKSUMS as readonly string[]).includes(m[1]!)) throw s3Error('InvalidRequest', `unsupported trailer ${trailer}`);
    return { name: m[1] as ChecksumName, trailer: true };
  }
  let found: { name: ChecksumName; value: string; trailer: boolean } | undefined;
  for (const [h, v] of Object.entries(headers)) {
    const m = /^x-amz-checksum-([a-z0-9]+)$/.exec(h);
    if (!m || typeof v !== 'string') continue;
    if (!(CHECKSUMS as readonly string[]).includes(m[1]!)) {
      if (m[1] === 'type' || m[1] === 'algorithm' || m[1] === 'mode') continue;
      throw s3Error('InvalidRequest', `the checksum algorithm ${m[1]} is not supported`);
    }
    if (found) throw s3Error('InvalidRequest', 'Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.');
    assertChecksumValue(m[1] as ChecksumName, v.trim());
    found = { name: m[1] as ChecksumName, value: v.trim(), trailer: false };
  }
  return found;
}
