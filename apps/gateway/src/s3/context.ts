import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import type { SigV4Identity } from '#auth';
import type { AppConfig } from '#config';
import { escapeXml, xmlDocument, type XmlTree } from './xml.js';
import type { S3Services } from './services.js';

/** One S3 request, authenticated, with its bucket and key decoded from the path (or the Host). */
export interface S3Context {
  req: IncomingMessage;
  res: ServerResponse;
  method: string;
  /** Decoded; undefined for service-level requests (ListBuckets). */
  bucket?: string;
  key?: string;
  /** Decoded query parameters (first value of each name). */
  query: Map<string, string>;
  requestId: string;
  userId: number;
  identity: SigV4Identity;
  config: AppConfig;
  services: S3Services;
  /** The request body as the client meant it: aws-chunked framing decoded, chunk signatures and trailers checked. */
  body(): Readable;
  /** The first error of the body's decoding and checks (a chunk signature, a checksum), once one failed. */
  bodyError?: Error;
  /** The decoded body's length when known (Content-Length, or x-amz-decoded-content-length). */
  contentLength?: number;
}

export type S3Handler = (ctx: S3Context) => Promise<void>;

/** Sends an XML document (200 unless told). */
export function sendXml(ctx: S3Context, root: string, body: XmlTree, status = 200): void {
  const text = xmlDocument(root, body);
  ctx.res.writeHead(status, { 'Content-Type': 'application/xml', 'Content-Length': Buffer.byteLength(text) });
  ctx.res.end(text);
}

/** Sends an empty answer with the given headers. */
export function sendEmpty(ctx: S3Context, status: number, headers: Record<string, string | number> = {}): void {
  ctx.res.writeHead(status, { ...headers, 'Content-Length': 0 });
  ctx.res.end();
}

/** The S3 error document. */
export function errorDocument(code: string, message: string, resource: string, requestId: string, extra: Record<string, string>): string {
  const fields = Object.entries(extra)
    .map(([k, v]) => `<${k}>${escapeXml(v)}</${k}>`)
    .join('');
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<Error><Code>${code}</Code><Message>${escapeXml(message)}</Message>${fields}<Resource>${escapeXml(resource)}</Resource>` +
    `<RequestId>${requestId}</RequestId></Error>`
  );
}
