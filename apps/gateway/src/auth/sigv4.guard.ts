import { createHash } from 'node:crypto';
import { Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { TenantsService, verifySigV4 } from '#auth';
import { badArgument, unauthorized } from '#common';
import { IS_PUBLIC, type AuthedRequest } from './tenant.js';

const EMPTY_SHA256 = createHash('sha256').digest('hex');

/**
 * Authenticates every `/v1` request with AWS SigV4 (service `jcs`, spec §2) and records the tenant.
 * JSON bodies are already buffered by the body parser, so their hash is checked here; a streamed
 * (multipart) body is checked by the upload pipeline before anything is committed.
 */
@Injectable()
export class SigV4Guard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly tenants: TenantsService,
  ) {}

  async canActivate(ctx: ExecutionContext): Promise<boolean> {
    if (this.reflector.getAllAndOverride<boolean>(IS_PUBLIC, [ctx.getHandler(), ctx.getClass()])) return true;
    const req = ctx.switchToHttp().getRequest<AuthedRequest>();
    const url = req.originalUrl;
    const q = url.indexOf('?');
    const streamed = /^multipart\//i.test(req.headers['content-type'] ?? '');
    let userId = 0;
    const identity = await verifySigV4(
      {
        method: req.method,
        path: q < 0 ? url : url.slice(0, q),
        query: q < 0 ? '' : url.slice(q + 1),
        headers: req.headers,
        bodySha256Hex: req.rawBody ? sha256Hex(req.rawBody) : streamed ? undefined : EMPTY_SHA256,
      },
      async (accessKeyId) => {
        const key = await this.tenants.lookupKey(accessKeyId);
        userId = key?.userId ?? 0;
        return key?.secret ?? null;
      },
      { service: 'jcs' },
    );
    req.tenant = {
      userId,
      accessKeyId: identity.accessKeyId,
      pendingPayloadSha256: identity.payloadHashPending ? identity.payloadHash : undefined,
    };
    checkBodyUserId(req.body, userId);
    return true;
  }
}

/** spec §1: a body `userID` must be the caller's own (403 otherwise); the identity comes from the key. */
function checkBodyUserId(body: unknown, userId: number): void {
  if (body === null || typeof body !== 'object' || !('userID' in body)) return;
  const claimed = (body as { userID: unknown }).userID;
  if (claimed === undefined || claimed === null) return;
  if (typeof claimed !== 'number' || !Number.isSafeInteger(claimed)) throw badArgument('userID must be an integer');
  if (claimed !== userId) throw unauthorized(`userID ${claimed} is not the caller's`, 403);
}

const sha256Hex = (b: Buffer) => createHash('sha256').update(b).digest('hex');
