import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { redactHeaders, redactUrl } from '#common';

const UNLOGGED = new Set(['/healthz', '/readyz']);
const GIVEN_ID = /^[\w.:-]{1,128}$/;

/**
 * The request log, first of the edge: gives every request an ID (`X-Request-Id`, the client's own
 * when it is a plain token) and writes one line when the response ends or the connection goes.
 *
 * Written by hand rather than with pino-http, which builds a child logger with the serialised request
 * for every request whatever the level, and whose Nest binding runs each request inside an
 * AsyncLocalStorage (promise hooks on every await, on Node 20): together about a tenth of a small
 * request's CPU. Here nothing is built unless the line is written; the URL and, at debug, the
 * headers go through the one redaction of #common.
 */
export function requestLog(logger: Logger) {
  return (req: IncomingMessage & { id?: string; originalUrl?: string }, res: ServerResponse, next: () => void): void => {
    const given = req.headers['x-request-id'];
    const id = typeof given === 'string' && GIVEN_ID.test(given) ? given : randomUUID();
    req.id = id;
    res.setHeader('X-Request-Id', id);
    const url = req.originalUrl ?? req.url ?? '';
    if (UNLOGGED.has(url)) return next();
    const start = performance.now();
    res.once('close', () => {
      const status = res.statusCode;
      const level = status >= 500 ? 'error' : 'info';
      if (!logger.isLevelEnabled(level)) return;
      const debug = logger.isLevelEnabled('debug');
      logger[level](
        {
          reqId: id,
          req: { method: req.method, url: redactUrl(url), ...(debug ? { headers: redactHeaders(req.headers) } : {}) },
          res: { statusCode: status },
          // false: the connection went before the response was complete (client gone, cut download).
          complete: res.writableFinished,
          responseTime: Math.round(performance.now() - start),
        },
        'request completed',
      );
    });
    next();
  };
}
