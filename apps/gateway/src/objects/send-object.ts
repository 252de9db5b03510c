import type { Request, Response } from 'express';
import { pipeline } from 'node:stream/promises';
import { badArgument } from '#common';
import { spanFromOffsetLength, spanFromRangeHeader, type PreparedRead, type Span } from '#objects';

/** The span a download asks for: `offset`/`length` (spec §5) or an HTTP `Range` header (ours). */
export function requestedSpan(req: Request, size: number, offset?: number, length?: number): { span: Span; partial: boolean } {
  const range = spanFromRangeHeader(req.headers.range, size);
  if (range && (offset !== undefined || length !== undefined)) throw badArgument('use either offset/length or a Range header, not both');
  if (range) return { span: range, partial: true };
  return { span: spanFromOffsetLength(size, offset, length), partial: false };
}

/** RFC 5987 `filename*` value: UTF-8, percent-encoded, including the characters it reserves. */
const rfc5987 = (s: string) => encodeURIComponent(s).replace(/['()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());

/** Writes the headers and streams the bytes; a failure after the first byte cuts the connection. */
export async function sendObject(res: Response, read: PreparedRead, partial: boolean): Promise<void> {
  const { object, span } = read;
  const stream = read.bytes ? undefined : await read.open();
  const length = Math.max(0, span.end - span.start + 1);
  res.status(partial ? 206 : 200);
  res.setHeader('Content-Type', 'application/octet-stream');
  res.setHeader('Content-Disposition', `attachment; filename*=UTF-8''${rfc5987(object.path.slice(object.path.lastIndexOf('/') + 1))}`);
  res.setHeader('Content-Length', String(length));
  res.setHeader('ETag', `"${object.fileHash}"`);
  res.setHeader('Accept-Ranges', 'bytes');
  res.setHeader('Last-Modified', object.updateTime.toUTCString());
  if (partial) res.setHeader('Content-Range', `bytes ${span.start}-${span.end}/${object.size}`);
  if (!stream) {
    res.end(read.bytes);
    return;
  }
  try {
    await pipeline(stream, res);
  } catch {
    // The client went away, or a shard failed mid-stream: the status is gone, so cut the connection.
    res.destroy();
  }
}
