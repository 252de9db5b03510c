import { describe, expect, it } from '@jest/globals';
import { Readable } from 'node:stream';
import { exactRangeBody, httpRange, parseContentRange } from './byte-streams.js';

const data = Buffer.from('0123456789abcdefghij'); // 20 bytes

/** The body arrives in small chunks, as from a socket. */
function body(bytes: Buffer): Readable {
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += 3) chunks.push(bytes.subarray(i, i + 3));
  return Readable.from(chunks, { objectMode: false });
}

async function text(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString();
}

describe('range requests against backends that answer loosely', () => {
  it('never asks for a suffix range', () => {
    expect(httpRange({ start: 0, end: 0 })).toBe('bytes=0-0');
    expect(httpRange({ start: 7 })).toBe('bytes=7-');
    expect(httpRange(undefined)).toBeUndefined();
  });

  it('parses Content-Range', () => {
    expect(parseContentRange('bytes 0-9/20')).toEqual({ start: 0, end: 9, total: 20 });
    expect(parseContentRange('bytes 3-4/*')).toEqual({ start: 3, end: 4, total: undefined });
    expect(parseContentRange('garbage')).toBeNull();
  });

  it('passes an exact 206 answer through untouched', async () => {
    const b = body(data.subarray(2, 6));
    const out = exactRangeBody(b, { start: 2, end: 5 }, { status: 206, contentRange: 'bytes 2-5/20' }, 'test');
    expect(out).toBe(b);
    expect(await text(out)).toBe('2345');
  });

  it('cuts a 206 answer that is wider than asked (s3rver answers bytes=0-0 with the whole object)', async () => {
    const out = exactRangeBody(body(data), { start: 0, end: 0 }, { status: 206, contentRange: 'bytes 0-19/20' }, 'test');
    expect(await text(out)).toBe('0');
  });

  it('skips and cuts a 200 answer from a backend that ignored the Range header', async () => {
    expect(await text(exactRangeBody(body(data), { start: 4, end: 10 }, { status: 200, contentLength: 20 }, 't'))).toBe('456789a');
    expect(await text(exactRangeBody(body(data), { start: 18 }, { status: 200, contentLength: 20 }, 't'))).toBe('ij');
    expect(await text(exactRangeBody(body(data), { start: 15, end: 99 }, { status: 200, contentLength: 20 }, 't'))).toBe('fghij');
  });

  it('refuses an answer starting after the asked start, and a start past the end', () => {
    expect(() => exactRangeBody(body(data), { start: 2 }, { status: 206, contentRange: 'bytes 3-19/20' }, 't')).toThrow(
      expect.objectContaining({ code: 'OperationFailed', status: 502 }),
    );
    expect(() => exactRangeBody(body(data), { start: 20 }, { status: 200, contentLength: 20 }, 't')).toThrow(
      expect.objectContaining({ code: 'BadArgument' }),
    );
  });

  it('fails the stream when the backend body ends before the range does', async () => {
    const short = body(data.subarray(0, 5));
    const out = exactRangeBody(short, { start: 0, end: 9 }, { status: 206, contentRange: 'bytes 0-19/20' }, 'short read');
    await expect(text(out)).rejects.toMatchObject({ code: 'OperationFailed', message: expect.stringContaining('ended before') });
  });
});
