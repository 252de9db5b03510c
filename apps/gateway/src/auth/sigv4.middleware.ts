import { Injectable, type NestMiddleware } from '@nestjs/common';
import type { NextFunction, Response } from 'express';
import { TenantsService, verifySigV4BeforeBody, type SigV4Identity } from '#auth';
import { requestHasBody, sendErrorEnvelope } from '../envelope/error-response.js';
import { isJsonContentType } from '../common/content-type.js';
import { expectsContinue } from '../common/http-server.js';
import type { AuthedRequest, TenantContext } from './tenant.js';

/** Every `/v1` route is signed; express routes case-insensitively, so the check must too. */
export const SIGNED_PATH = /^\/v1(\/|$)/i;

/**
 * The first step of the edge: authenticates a `/v1` request with SigV4 (spec §2) from its method,
 * path, query and headers alone, before any body byte is read, and records the tenant. A failure is
 * answered at once, and the connection closed rather than the body read (see sendErrorEnvelope).
 *
 * A JSON body signed over its own hash (no x-amz-content-sha256, e.g. curl) cannot be decided without
 * the body: everything else is checked here (the access key must exist), and the JSON body reader,
 * which reads at most JCS_MAX_JSON_BODY, completes the check before parsing a byte of it.
 */
@Injectable()
export class SigV4Middleware implements NestMiddleware {
  constructor(private readonly tenants: TenantsService) {}

  async use(req: AuthedRequest, res: Response, next: NextFunction): Promise<void> {
    const url = req.originalUrl;
    const q = url.indexOf('?');
    if (!SIGNED_PATH.test(q < 0 ? url : url.slice(0, q))) return next();
    try {
      const hasBody = requestHasBody(req);
      let userId = 0;
      const result = await verifySigV4BeforeBody(
        {
          method: req.method,
          path: q < 0 ? url : url.slice(0, q),
          query: q < 0 ? '' : url.slice(q + 1),
          headers: req.headers,
          hasBody,
          bufferable: hasBody && isJsonContentType(req.headers['content-type']),
        },
        async (accessKeyId) => {
          const key = await this.tenants.lookupKey(accessKeyId);
          userId = key?.userId ?? 0;
          return key?.secret ?? null;
        },
        { service: 'jcs' },
      );
      const tenantOf = (identity: SigV4Identity): TenantContext => ({
        userId,
        accessKeyId: identity.accessKeyId,
        pendingPayloadSha256: identity.payloadHashPending ? identity.payloadHash : undefined,
      });
      if (result.identity) req.tenant = tenantOf(result.identity);
      else {
        const complete = result.completeWithBody;
        req.completeSignature = (bodySha256Hex) => tenantOf(complete(bodySha256Hex));
      }
      // Only now may the client send its body (see the server's checkContinue handler); a body the
      // signature still depends on is invited by the JSON body reader, once it has room for it.
      if (result.identity && expectsContinue(req)) res.writeContinue();
      next();
    } catch (e) {
      sendErrorEnvelope(req, res, e);
    }
  }
}
