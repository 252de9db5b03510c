import type { NextFunction, Request, Response } from 'express';
import { tryParseQuery } from '#auth';
import { badArgument, hasForbiddenChars } from '#common';
import { sendErrorEnvelope } from '../envelope/error-response.js';

/**
 * Express's `query parser`: the SigV4 verifier's own decoding (percent-decoding once, `+` a literal
 * plus as in the SigV4 canonical form, never a space), so the values routed to a handler are the
 * bytes that were signed. Repeated keys become arrays (which DTO validation then refuses).
 */
export function routedQuery(raw: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = Object.create(null);
  for (const { key, value } of tryParseQuery(raw) ?? []) {
    const prev = out[key];
    out[key] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value];
  }
  return out;
}

/**
 * The query half of the input gate, for every route (on `/v1` after authentication, which decodes the
 * query the same way): not valid percent-encoded UTF-8, or a NUL in a key or value, is BadArgument.
 */
export function queryGate(req: Request, res: Response, next: NextFunction): void {
  const url = req.originalUrl;
  const q = url.indexOf('?');
  if (q < 0) return next();
  const params = tryParseQuery(url.slice(q + 1));
  if (params === undefined) return sendErrorEnvelope(req, res, badArgument('the query string is not valid percent-encoded UTF-8'));
  for (const { key, value } of params) {
    if (hasForbiddenChars(key) || hasForbiddenChars(value)) {
      return sendErrorEnvelope(req, res, badArgument(`query parameter "${key.replace(/[^\x20-\x7e]/g, '?').slice(0, 64)}" holds NUL or a lone surrogate`));
    }
  }
  next();
}
