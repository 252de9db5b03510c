import { s3Error } from './errors.js';
import type { S3Context, S3Handler } from './context.js';

/** What a request addresses: the service (no bucket), a bucket, or an object. */
export type S3Level = 'service' | 'bucket' | 'object';

/**
 * Query parameters that name a sub-resource (an operation of its own), in the order they are looked
 * for. An operation is keyed `<level> <METHOD>` or `<level> <METHOD> <sub-resource>`; a request
 * naming a sub-resource with no operation registered is NotImplemented, never the plain operation.
 */
export const SUB_RESOURCES = [
  'uploadId',
  'uploads',
  'partNumber',
  'delete',
  'location',
  'versioning',
  'versions',
  'versionId',
  'acl',
  'policy',
  'policyStatus',
  'lifecycle',
  'tagging',
  'cors',
  'website',
  'encryption',
  'logging',
  'notification',
  'replication',
  'requestPayment',
  'object-lock',
  'retention',
  'legal-hold',
  'ownershipControls',
  'publicAccessBlock',
  'accelerate',
  'analytics',
  'inventory',
  'metrics',
  'intelligent-tiering',
  'restore',
  'select',
  'torrent',
  'attributes',
  'session',
] as const;

const operations = new Map<string, S3Handler>();

/** Registers operations (`'object PUT uploadId'` → handler). A later registration replaces an earlier one. */
export function registerS3Operations(table: Record<string, S3Handler>): void {
  for (const [key, handler] of Object.entries(table)) operations.set(key, handler);
}

const notImplemented: S3Handler = async () => {
  throw s3Error('NotImplemented', 'A header or query you provided implies functionality that is not implemented.');
};

/**
 * The multipart operations answer NotImplemented until their handlers are registered
 * (apps/gateway/src/s3/multipart.ts registers them).
 */
registerS3Operations({
  'bucket GET uploads': notImplemented,
  'object POST uploads': notImplemented,
  'object PUT uploadId': notImplemented,
  'object POST uploadId': notImplemented,
  'object DELETE uploadId': notImplemented,
  'object GET uploadId': notImplemented,
});

export function levelOf(ctx: Pick<S3Context, 'bucket' | 'key'>): S3Level {
  return ctx.bucket === undefined ? 'service' : ctx.key === undefined ? 'bucket' : 'object';
}

/** The handler for a request, or MethodNotAllowed / NotImplemented. */
export function route(ctx: S3Context): S3Handler {
  const level = levelOf(ctx);
  const method = ctx.method === 'HEAD' ? 'HEAD' : ctx.method;
  const sub = SUB_RESOURCES.find((s) => ctx.query.has(s));
  if (sub) return operations.get(`${level} ${method} ${sub}`) ?? notImplemented;
  const op = operations.get(`${level} ${method}`);
  if (op) return op;
  if (['GET', 'PUT', 'POST', 'DELETE', 'HEAD'].includes(method)) return notImplemented;
  return async () => {
    throw s3Error('MethodNotAllowed', 'The specified method is not allowed against this resource.');
  };
}
