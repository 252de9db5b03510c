import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';

export type FormPart =
  | { name: string; value: string }
  | { name: string; filename: string; data: Buffer | Readable | (() => Readable); contentType?: string };

/**
 * A streamed `multipart/form-data` body, built by hand so tests control part order, names and raw
 * filenames (and can stream hundreds of MiB without buffering them).
 */
export function multipartBody(parts: FormPart[]): { body: Readable; contentType: string } {
  const boundary = '----jcs' + randomBytes(12).toString('hex');
  async function* gen() {
    for (const p of parts) {
      if ('value' in p) {
        yield Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${p.name}"\r\n\r\n${p.value}\r\n`);
      } else {
        yield Buffer.from(
          `--${boundary}\r\nContent-Disposition: form-data; name="${p.name}"; filename="${p.filename}"\r\n` +
            `Content-Type: ${p.contentType ?? 'application/octet-stream'}\r\n\r\n`,
        );
        const data = typeof p.data === 'function' ? p.data() : p.data;
        if (Buffer.isBuffer(data)) yield data;
        else for await (const c of data) yield c as Buffer;
        yield Buffer.from('\r\n');
      }
    }
    yield Buffer.from(`--${boundary}--\r\n`);
  }
  return { body: Readable.from(gen(), { objectMode: false }), contentType: `multipart/form-data; boundary=${boundary}` };
}

/** Deterministic pseudo-random bytes streamed in 1 MiB chunks (xorshift), for big round-trips. */
export function pseudoRandomStream(size: number, seed = 1): Readable {
  let x = seed >>> 0 || 1;
  let left = size;
  return new Readable({
    read() {
      if (left === 0) return void this.push(null);
      const n = Math.min(left, 1 << 20);
      const buf = Buffer.allocUnsafe(n);
      for (let i = 0; i + 4 <= n; i += 4) {
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
        buf.writeUInt32LE(x >>> 0, i);
      }
      for (let i = n - (n % 4); i < n; i++) buf[i] = i & 0xff;
      left -= n;
      this.push(buf);
    },
  });
}
