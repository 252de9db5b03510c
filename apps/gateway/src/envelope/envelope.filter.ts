import { ArgumentsHost, Catch, HttpException, Logger, type ExceptionFilter } from '@nestjs/common';
import type { Request, Response } from 'express';
import { DomainError, type ErrorCode } from '#common';
import type { Envelope } from './envelope.js';

/**
 * The one place where errors become HTTP: domain errors keep their code and status; framework errors
 * (unknown route, body parser) are translated; anything else is `OperationFailed` 500 with a generic
 * message, the detail going only to the log.
 */
@Catch()
export class EnvelopeFilter implements ExceptionFilter {
  private readonly log = new Logger('EnvelopeFilter');

  catch(err: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const res = http.getResponse<Response>();
    const req = http.getRequest<Request>();
    const { status, body } = this.translate(err, req);
    if (res.headersSent) {
      // A streamed download failed after its first byte: the only honest signal left is a cut connection.
      this.log.error({ err, url: req.originalUrl }, 'response failed after headers were sent');
      res.destroy();
      return;
    }
    res.status(status).json(body);
  }

  private translate(err: unknown, req: Request): { status: number; body: Envelope } {
    if (err instanceof DomainError) {
      if (err.status >= 500) this.log.error({ err, url: req.originalUrl }, err.message);
      return { status: err.status, body: { code: err.code, message: err.message, data: null } };
    }
    // Nest wraps body-parser failures in an HttpException whose cause is the parser's error.
    const parserError = bodyParserError(err instanceof HttpException ? (err.cause ?? err) : err);
    if (parserError) return { status: parserError.status, body: { code: 'BadArgument', message: parserError.message, data: null } };
    if (err instanceof HttpException) {
      const status = err.getStatus();
      const code: ErrorCode =
        status === 404 ? 'DataNotFound' : status === 401 || status === 403 ? 'Unauthorized' : status < 500 ? 'BadArgument' : 'OperationFailed';
      const message = status === 404 ? `no route ${req.method} ${req.path}` : status < 500 ? err.message : 'internal error';
      if (status >= 500) this.log.error({ err, url: req.originalUrl }, 'http exception');
      return { status, body: { code, message, data: null } };
    }
    this.log.error({ err, url: req.originalUrl }, 'unhandled error');
    return { status: 500, body: { code: 'OperationFailed', message: 'internal error', data: null } };
  }
}

/** body-parser errors carry a `type` such as `entity.parse.failed`; say what was wrong, not where. */
function bodyParserError(err: unknown): { status: number; message: string } | null {
  const e = err as { type?: string; status?: number; limit?: number };
  if (typeof e?.type !== 'string' || !/^(entity|charset|encoding|request)\./.test(e.type)) return null;
  const status = e.status && e.status >= 400 && e.status < 500 ? e.status : 400;
  switch (e.type) {
    case 'entity.parse.failed':
      return { status, message: 'request body is not valid JSON' };
    case 'entity.too.large':
      return { status, message: `request body is larger than ${e.limit} bytes` };
    default:
      return { status, message: `request body cannot be read (${e.type})` };
  }
}
