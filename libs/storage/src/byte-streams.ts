import { Readable, Transform, type Stream, type TransformCallback } from 'node:stream';
import { badArgument, operationFailed } from '#common';
import type { ByteRange } from './driver.js';

/**
 * Passes bytes through and counts them. With an `expected` size it fails as soon as the body is
 * longer, or at its end when it is shorter, so a lying body can never be stored under a size it
 * did not have (and an HTTP request with a fixed Content-Length never waits for missing bytes).
 */
export class ByteCounter extends Transform {
  bytes = 0;

  constructor(private readonly expected?: number) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.expected !== undefined && this.bytes > this.expected)
      return callback(badArgument(`body is longer than its declared size of ${this.expected} bytes`));
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    if (this.expected !== undefined && this.bytes !== this.expected)
      return callback(badArgument(`body has ${this.bytes} bytes, not its declared size of ${this.expected}`));
    callback();
  }
}

/** The HTTP Range header for a range: always `bytes=start-[end]`, never a suffix range. */
export function httpRange(range: ByteRange | undefined): string | undefined {
  if (!range) return undefined;
  return `bytes=${range.start}-${range.end ?? ''}`;
}

/** Parses `bytes a-b/total` (total may be `*`). */
export function parseContentRange(header: string | undefined): { start: number; end: number; total?: number } | null {
  const m = header ? /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(header.trim()) : null;
  if (!m) return null;
  return { start: Number(m[1]), end: Number(m[2]), total: m[3] === '*' ? undefined : Number(m[3]) };
}

/**
 * Makes an HTTP object body hold exactly the requested range. A backend answering a range request
 * may legally ignore the Range header (200 with the whole object) and some answer a wider range than
 * asked; the driver promises exactly the requested bytes, so it skips and cuts here rather than hand
 * a caller more bytes than it asked for. The common case (the backend answered exactly) passes the
 * body through untouched.
 */
export function exactRangeBody(
  body: Readable,
  range: ByteRange | undefined,
  response: { status?: number; contentRange?: string; contentLength?: number },
  what: string,
): Readable {
  if (!range) return body;
  let bodyStart: number;
  let bodyEnd: number | undefined; // inclusive, when known
  let total: number | undefined;
  const cr = parseContentRange(response.contentRange);
  if (response.status === 206 && cr) {
    bodyStart = cr.start;
    bodyEnd = cr.end;
    total = cr.total;
  } else if (response.status === 200 || response.status === undefined) {
    bodyStart = 0;
    total = response.contentLength;
    bodyEnd = total === undefined ? undefined : total - 1;
  } else {
    body.destroy();
    throw operationFailed(`${what}: unexpected ranged response (status ${response.status}, Content-Range ${response.contentRange})`, 502);
  }
  if (bodyStart > range.start) {
    body.destroy();
    throw operationFailed(`${what}: backend returned bytes from ${bodyStart}, asked from ${range.start}`, 502);
  }
  if (total !== undefined && total > 0 && range.start >= total) {
    body.destroy();
    throw rangeNotSatisfiable(range, total);
  }
  let wantedEnd = range.end;
  if (total !== undefined) wantedEnd = Math.min(wantedEnd ?? total - 1, total - 1);
  if (bodyStart === range.start && wantedEnd !== undefined && bodyEnd === wantedEnd) return body;
  const skip = range.start - bodyStart;
  const take = wantedEnd === undefined ? undefined : wantedEnd - range.start + 1;
  return Readable.from(sliceBytes(body, skip, take, what), { objectMode: false });
}

export function rangeNotSatisfiable(range: ByteRange, size: number) {
  return badArgument(`range ${range.start}-${range.end ?? ''} is not satisfiable for an object of ${size} bytes`);
}

async function* sliceBytes(body: Readable, skip: number, take: number | undefined, what: string): AsyncGenerator<Buffer> {
  let toSkip = skip;
  let left = take ?? Infinity;
  try {
    for await (const raw of body) {
      let chunk = raw as Buffer;
      if (toSkip > 0) {
        if (chunk.length <= toSkip) {
          toSkip -= chunk.length;
          continue;
        }
        chunk = chunk.subarray(toSkip);
        toSkip = 0;
      }
      if (chunk.length >= left) {
        if (left > 0) yield chunk.subarray(0, left);
        left = 0;
        break;
      }
      left -= chunk.length;
      yield chunk;
    }
    if (toSkip > 0 || (take !== undefined && left > 0))
      throw operationFailed(`${what}: backend body ended before the requested range`, 502);
  } finally {
    body.destroy();
  }
}

/**
 * Tells a failure of the caller's body apart from a failure downstream of it. Once streams are
 * joined by `pipeline`, an error anywhere is re-emitted on every stream, so "the body emitted an
 * error" alone does not say who failed; the first error event does. A driver rethrows the body's
 * own error unchanged (the caller knows what it means) and maps only its own failures.
 */
export function watchBody(body: Readable, downstream: Stream[]): { readonly bodyError: unknown; dispose(): void } {
  let bodyError: unknown;
  let settled = false;
  const onBody = (err: unknown) => {
    if (!settled) bodyError = err;
    settled = true;
  };
  const onOther = () => {
    settled = true;
  };
  body.once('error', onBody);
  for (const s of downstream) s.once('error', onOther);
  return {
    get bodyError() {
      return bodyError;
    },
    dispose() {
      body.removeListener('error', onBody);
      for (const s of downstream) s.removeListener('error', onOther);
    },
  };
}
