import { ExpressAdapter } from '@nestjs/platform-express';
import type { Response } from 'express';
import { ok } from './envelope.js';

/**
 * Nest's Express adapter, answering what a handler returns in the envelope of spec §1
 * (`{"code":"OK","message":"","data":...}`; `undefined` → `null`), written in one `end`.
 *
 * This is the one place every returned value passes through, so the envelope lives here rather than in
 * a global interceptor: an interceptor puts an RxJS pipeline around every request (about a tenth of a
 * small request's CPU in the profiles), and Express's `res.json` adds an ETag hash nobody revalidates.
 * Handlers that stream (`@Res()`) write their own answer and never get here; errors are answered by
 * the EnvelopeFilter.
 */
export class EnvelopeHttpAdapter extends ExpressAdapter {
  override reply(response: Response, body: unknown, statusCode?: number): void {
    if (response.headersSent) return;
    if (statusCode !== undefined && statusCode !== null) response.statusCode = statusCode;
    const json = JSON.stringify(ok(body === undefined ? null : body));
    response.setHeader('Content-Type', 'application/json; charset=utf-8');
    response.setHeader('Content-Length', Buffer.byteLength(json));
    response.end(json);
  }
}
