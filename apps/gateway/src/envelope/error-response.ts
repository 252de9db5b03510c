import { HttpException, Logger } from '@nestjs/common';
import type { Request, Response } from 'express';
import { DomainError, quotaExceeded, redactUrl, type ErrorCode } from '#common';
import { SPACE_FULL, pgCode } from '#db';
import type { Envelope } from './envelope.js';

const log = new Logger('EnvelopeFilter');

/**
 * Error → status and envelope: domain errors keep their code and status; framework errors (unknown
 * route) are translated; anything else is `OperationFailed` 500 with a generic message, the detail
 * going only to the log (with the URL redacted: presigned URLs carry signatures).
 */
export function translateError(err: unknown, req: Request): { status: number; body: Envelope } {
  const url = redactUrl(req.originalUrl);
  // The space_usage triggers refuse any statement taking a space past shardStore.maxSize (upload,
  // completion, clone, repair): whichever path wrote, the answer is 507 and the statement wrote nothing.
  if (pgCode(err) === SPACE_FULL) err = quotaExceeded('a user space has no room left for these blocks; nothing was stored');
  if (err instanceof DomainError) {
    if (err.status >= 500 && err.code !== 'QuotaExceeded') log.error({ err, url }, err.message);
    return { status: err.status, body: { code: err.code, message: err.message, data: null } };
  }
  if (err instanceof HttpException) {
    const status = err.getStatus();
    const code: ErrorCode =
      status === 404 ? 'DataNotFound' : status === 401 || status === 403 ? 'Unauthorized' : status < 500 ? 'BadArgument' : 'OperationFailed';
    const message = status === 404 ? `no route ${req.method} ${req.path}` : status < 500 ? err.message : 'internal error';
    if (status >= 500) log.error({ err, url }, 'http exception');
    return { status, body: { code, message, data: null } };
  }
  log.error({ err, url }, 'unhandled error');
  return { status: 500, body: { code: 'OperationFailed', message: 'internal error', data: null } };
}

/**
 * Answers an error envelope. When the request body has not been (fully) read, the connection is
 * closed after the answer: reading an unbounded body only to throw it away (what keep-alive needs)
 * is work an unauthenticated or failed request must not cost.
 */
export function sendErrorEnvelope(req: Request, res: Response, err: unknown): void {
  const { status, body } = translateError(err, req);
  if (res.headersSent) {
    // A streamed download failed after its first byte: the only honest signal left is a cut connection.
    log.error({ err, url: redactUrl(req.originalUrl) }, 'response failed after headers were sent');
    res.destroy();
    return;
  }
  if (!req.readableEnded && requestHasBody(req)) res.setHeader('Connection', 'close');
  res.status(status).json(body);
}

/** RFC 9112 §6.3: a request has a body only with Transfer-Encoding or a non-zero Content-Length. */
export function requestHasBody(req: Request): boolean {
  if (req.headers['transfer-encoding'] !== undefined) return true;
  const length = req.headers['content-length'];
  return length !== undefined && length !== '0';
}
