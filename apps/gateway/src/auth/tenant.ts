import { createParamDecorator, SetMetadata, type ExecutionContext } from '@nestjs/common';
import type { Request } from 'express';

/** Who is calling, as established by the SigV4 guard. */
export interface TenantContext {
  userId: number;
  accessKeyId: string;
  /** Hex SHA-256 the client signed for a body that is streamed, to be checked once it has been read. */
  pendingPayloadSha256?: string;
}

export type AuthedRequest = Request & {
  tenant?: TenantContext;
  /**
   * Set by the SigV4 step when the signature covers the body's own hash (no x-amz-content-sha256):
   * the JSON body reader completes the verification with the hash of the bytes it read.
   */
  completeSignature?: (bodySha256Hex: string) => TenantContext;
};

/** The caller's userId; every domain call takes it, so no query can forget the tenant. */
export const TenantId = createParamDecorator((_: unknown, ctx: ExecutionContext): number => {
  const tenant = ctx.switchToHttp().getRequest<AuthedRequest>().tenant;
  if (!tenant) throw new Error('TenantId used on a route without authentication');
  return tenant.userId;
});

export const TenantCtx = createParamDecorator((_: unknown, ctx: ExecutionContext): TenantContext => {
  const tenant = ctx.switchToHttp().getRequest<AuthedRequest>().tenant;
  if (!tenant) throw new Error('TenantCtx used on a route without authentication');
  return tenant;
});

export const IS_PUBLIC = 'jcs:public';
/** Marks a route that needs no signature (health probes, docs). */
export const Public = () => SetMetadata(IS_PUBLIC, true);
