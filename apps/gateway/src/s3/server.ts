import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { pipeline, type Duplex, type Readable } from 'node:stream';
import type { INestApplicationContext } from '@nestjs/common';
import { tryParseQuery, verifySigV4BeforeBody, type SigV4Identity } from '#auth';
import type { AppConfig } from '#config';
import type { Logger } from 'pino';
import { applyServerLimits, expectsContinue } from '../common/http-server.js';
import { requestLog } from '../common/request-log.js';
import { requestLogger } from '../app.module.js';
import { AwsChunkedDecoder } from './chunked.js';
import { ChecksumTap, declaredChecksum } from './checksums.js';
import { errorDocument, type S3Context } from './context.js';
import { s3Error, toS3Error } from './errors.js';
import { route } from './router.js';
import { s3Services, type S3Services } from './services.js';
import './operations.js';
import './multipart.js';

/** RFC 9112 §6.3: a request has a body only with Transfer-Encoding or a non-zero Content-Length. */
const hasBody = (req: IncomingMessage) =>
  req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0');

/**
 * The S3 listener: a second http.Server in the gateway process with the same limits as /v1's, raw
 * node:http handling (routing, SigV4 with service `s3`, aws-chunked decoding, XML, the S3 error
 * catalogue) and the domain services of the Nest application.
 */
export function createS3Server(app: INestApplicationContext, config: AppConfig): Server {
  const services = s3Services(app);
  const logger = requestLogger(config);
  const log = requestLog(logger);
  const server = createServer((req, res) => log(req as Parameters<typeof log>[0], res, () => void handle(req, res, services, config, logger)));
  applyServerLimits(server, config);
  // A request Node cannot parse is answered in S3's words (the /v1 listener answers a JSON envelope).
  server.removeAllListeners('clientError');
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    const inFlight = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (err.code === 'ECONNRESET' || !socket.writable || inFlight?.headersSent) return void socket.destroy();
    const tooLarge = err.code === 'HPE_HEADER_OVERFLOW';
    const requestId = randomBytes(8).toString('hex').toUpperCase();
    const body = errorDocument(
      tooLarge ? 'RequestHeaderSectionTooLarge' : 'BadRequest',
      tooLarge ? `request headers are larger than ${config.JCS_MAX_HEADER_BYTES} bytes` : 'malformed HTTP request',
      '',
      requestId,
      {},
    );
    socket.end(
      `HTTP/1.1 400 Bad Request\r\nContent-Type: application/xml\r\nx-amz-request-id: ${requestId}\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  });
  return server;
}

/** Starts the S3 listener; resolves with the server once it listens. */
export async function listenS3(app: INestApplicationContext, config: AppConfig, port: number, host: string): Promise<Server> {
  const server = createS3Server(app, config);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}

export async function closeS3(server: Server): Promise<void> {
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
  });
}

/** Bucket and key from the Host (virtual-host style under JCS_S3_DOMAIN) and the path. */
export function resolveTarget(host: string | undefined, rawPath: string, domain: string): { bucket?: string; key?: string } {
  const decode = (s: string) => {
    try {
      return decodeURIComponent(s);
    } catch {
      throw s3Error('InvalidURI', 'Couldn\'t parse the specified URI.');
    }
  };
  const h = (host ?? '').toLowerCase().replace(/:\d+$/, '');
  const d = domain.toLowerCase().replace(/:\d+$/, '');
  if (d && h.endsWith(`.${d}`)) {
    const bucket = h.slice(0, -d.length - 1);
    const key = rawPath.length > 1 ? decode(rawPath.slice(1)) : undefined;
    return { bucket, key };
  }
  const rest = rawPath.replace(/^\//, '');
  if (rest === '') return {};
  const slash = rest.indexOf('/');
  if (slash < 0) return { bucket: decode(rest) };
  const key = rest.slice(slash + 1);
  return { bucket: decode(rest.slice(0, slash)), key: key === '' ? undefined : decode(key) };
}

async function handle(req: IncomingMessage, res: ServerResponse, services: S3Services, config: AppConfig, logger: Logger): Promise<void> {
  const requestId = randomBytes(8).toString('hex').toUpperCase();
  res.setHeader('x-amz-request-id', requestId);
  res.setHeader('x-amz-id-2', requestId);
  res.setHeader('Server', 'JCS');
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const rawPath = q < 0 ? url : url.slice(0, q);
  const rawQuery = q < 0 ? '' : url.slice(q + 1);
  try {
    const target = resolveTarget(req.headers.host, rawPath, config.JCS_S3_DOMAIN);
    const params = tryParseQuery(rawQuery);
    if (!params) throw s3Error('InvalidArgument', 'the query string is not valid percent-encoded UTF-8');
    const query = new Map<string, string>();
    for (const p of params) if (!query.has(p.key)) query.set(p.key, p.value);

    let userId = 0;
    const result = await verifySigV4BeforeBody(
      { method: req.method ?? 'GET', path: rawPath, query: rawQuery, headers: req.headers, hasBody: hasBody(req), bufferable: false },
      async (accessKeyId) => {
        const key = await services.tenants.lookupKey(accessKeyId);
        userId = key?.userId ?? 0;
        return key?.secret ?? null;
      },
      { service: 's3', s3: true },
    );
    const identity = result.identity!;
    const ctx: S3Context = {
      req,
      res,
      method: req.method ?? 'GET',
      bucket: target.bucket,
      key: target.key,
      query,
      requestId,
      userId,
      identity,
      config,
      services,
      body: () => requestBody(req, identity, (e) => (ctx.bodyError ??= e)),
      contentLength: decodedLength(req, identity),
    };
    if (expectsContinue(req)) res.writeContinue();
    await route(ctx)(ctx);
  } catch (e) {
    sendError(req, res, e, rawPath, requestId, logger);
  }
}

function decodedLength(req: IncomingMessage, identity: SigV4Identity): number | undefined {
  const raw = identity.payloadHash.startsWith('STREAMING-') ? req.headers['x-amz-decoded-content-length'] : req.headers['content-length'];
  if (typeof raw !== 'string' || !/^\d{1,16}$/.test(raw)) return undefined;
  return Number(raw);
}

/** The body as the client meant it: aws-chunked decoded and verified, the declared checksum checked at its end. */
function requestBody(req: IncomingMessage, identity: SigV4Identity, onError: (e: Error) => void): Readable {
  const streams: Array<NodeJS.ReadableStream | NodeJS.WritableStream> = [req];
  const checksum = declaredChecksum(req.headers);
  const trailerValues = new Map<string, string>();
  if (identity.payloadHash.startsWith('STREAMING-')) {
    const withTrailer = identity.payloadHash.endsWith('-TRAILER');
    if (checksum?.trailer && !withTrailer) throw s3Error('InvalidRequest', 'x-amz-trailer needs a STREAMING-*-TRAILER payload');
    streams.push(new AwsChunkedDecoder(identity.chunkSigning, withTrailer, (name, value) => trailerValues.set(name, value)));
  } else if (checksum?.trailer) {
    throw s3Error('InvalidRequest', 'x-amz-trailer needs a STREAMING-*-TRAILER payload');
  }
  if (checksum) {
    streams.push(new ChecksumTap(checksum.name, () => (checksum.trailer ? trailerValues.get(`x-amz-checksum-${checksum.name}`) : checksum.value)));
  }
  if (streams.length === 1) return req;
  // The storage layer reports a failed body in its own words; the S3 error that caused it is kept here.
  for (const s of streams.slice(1)) (s as Readable).once('error', onError);
  const last = streams[streams.length - 1] as Readable;
  // Errors go both ways; the last stream (what the handler reads) fails with the first error.
  pipeline(streams as unknown as [Readable, ...NodeJS.WritableStream[]], (e) => {
    if (e && !last.destroyed) last.destroy(e);
  });
  return last;
}

function sendError(req: IncomingMessage, res: ServerResponse, e: unknown, resource: string, requestId: string, logger: Logger): void {
  const err = toS3Error(e);
  if (err.code === 'InternalError') {
    logger.error({ err: (e as Error)?.message, requestId }, 's3 request failed');
  }
  if (res.headersSent) {
    res.destroy();
    return;
  }
  // A body not read (an error before or while reading it): close rather than read the rest.
  if (!req.complete && hasBody(req)) res.setHeader('Connection', 'close');
  if (err.code === 'NotModified') {
    res.writeHead(304);
    res.end();
    return;
  }
  const body = req.method === 'HEAD' ? '' : errorDocument(err.code, err.message, resource, requestId, err.extra);
  res.writeHead(err.status, { 'Content-Type': 'application/xml', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
  if (!req.complete && hasBody(req)) res.once('finish', () => req.socket.destroySoon?.());
}
