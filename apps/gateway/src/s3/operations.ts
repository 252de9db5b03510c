import { createHash } from 'node:crypto';
import { pipeline } from 'node:stream';
import { isValidS3BucketName, spanFromRangeHeader, type S3ListCursor, type S3Meta, type S3Object } from '#objects';
import { DomainError } from '#common';
import { sendEmpty, sendXml, type S3Context } from './context.js';
import { s3Error, S3Error } from './errors.js';
import { registerS3Operations } from './router.js';
import { parseXml, xmlText, type XmlTree } from './xml.js';

// The helpers below are exported for the other operation files (multipart.ts).

/** S3's limit on user metadata (x-amz-meta-* names and values together). */
const MAX_USER_METADATA = 2 * 1024;
/** DeleteObjects: at most 1000 keys, and a body of at most this many bytes. */
const MAX_DELETE_BODY = 2 * 1024 * 1024;
const MAX_SMALL_BODY = 64 * 1024;

const iso = (d: Date) => d.toISOString();
const httpDate = (d: Date) => d.toUTCString();

export async function requireBucket(ctx: S3Context): Promise<number> {
  const id = await ctx.services.s3.findBucket(ctx.userId, ctx.bucket!);
  if (id === null) throw s3Error('NoSuchBucket', 'The specified bucket does not exist', { BucketName: ctx.bucket! });
  return id;
}

export const header = (ctx: S3Context, name: string): string | undefined => {
  const v = ctx.req.headers[name];
  return Array.isArray(v) ? v.join(',') : v;
};

export function refuseAcl(ctx: S3Context): void {
  const acl = header(ctx, 'x-amz-acl');
  if (acl !== undefined && acl !== 'private') throw s3Error('NotImplemented', `the canned ACL ${acl} is not supported (only private)`);
  if (Object.keys(ctx.req.headers).some((h) => h.startsWith('x-amz-grant-'))) throw s3Error('NotImplemented', 'x-amz-grant-* headers are not supported');
}

/** Reads a small body whole (bounded), checking a signed SHA-256 and Content-MD5 when given. */
export async function readSmallBody(ctx: S3Context, max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of ctx.body()) {
    size += (c as Buffer).length;
    if (size > max) throw s3Error('InvalidRequest', `the request body is larger than ${max} bytes`);
    chunks.push(c as Buffer);
  }
  const body = Buffer.concat(chunks);
  if (ctx.identity.payloadHashPending && createHash('sha256').update(body).digest('hex') !== ctx.identity.payloadHash) {
    throw s3Error('XAmzContentSHA256Mismatch', 'The provided x-amz-content-sha256 header does not match what was computed.');
  }
  const md5 = contentMd5(ctx);
  if (md5 && !md5.equals(createHash('md5').update(body).digest())) throw s3Error('BadDigest', 'The Content-MD5 you specified did not match what we received.');
  return body;
}

export function contentMd5(ctx: S3Context): Buffer | undefined {
  const v = header(ctx, 'content-md5');
  if (v === undefined) return undefined;
  const b = Buffer.from(v.trim(), 'base64');
  if (b.length !== 16 || !/^[A-Za-z0-9+/]{22}==$/.test(v.trim())) throw s3Error('InvalidDigest', 'The Content-MD5 you specified is not valid.');
  return b;
}

/** The stored headers of a PutObject (or CopyObject REPLACE), bounded as S3 bounds them. */
export function metaFromHeaders(ctx: S3Context): S3Meta {
  const meta: S3Meta = {};
  const take = (h: string, k: Exclude<keyof S3Meta, 'user'>) => {
    const v = header(ctx, h);
    if (v !== undefined) meta[k] = v;
  };
  take('content-type', 'contentType');
  take('cache-control', 'cacheControl');
  take('content-disposition', 'contentDisposition');
  take('content-language', 'contentLanguage');
  take('expires', 'expires');
  const enc = header(ctx, 'content-encoding');
  // aws-chunked is the transfer framing, not the object's encoding.
  const kept = enc
    ?.split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '' && s.toLowerCase() !== 'aws-chunked')
    .join(',');
  if (kept) meta.contentEncoding = kept;
  let userBytes = 0;
  const user: Record<string, string> = {};
  for (const [name, value] of Object.entries(ctx.req.headers)) {
    if (!name.startsWith('x-amz-meta-') || value === undefined) continue;
    const k = name.slice('x-amz-meta-'.length);
    const v = Array.isArray(value) ? value.join(',') : value;
    userBytes += Buffer.byteLength(k) + Buffer.byteLength(v);
    user[k] = v;
  }
  if (userBytes > MAX_USER_METADATA) throw s3Error('MetadataTooLarge', `Your metadata headers exceed the maximum allowed metadata size (${MAX_USER_METADATA} bytes).`);
  if (Object.keys(user).length) meta.user = user;
  return meta;
}

export function objectHeaders(o: S3Object): Record<string, string | number> {
  const h: Record<string, string | number> = {
    ETag: o.etag,
    'Last-Modified': httpDate(o.lastModified),
    'Accept-Ranges': 'bytes',
    'Content-Type': o.meta.contentType ?? 'binary/octet-stream',
  };
  if (o.meta.cacheControl) h['Cache-Control'] = o.meta.cacheControl;
  if (o.meta.contentDisposition) h['Content-Disposition'] = o.meta.contentDisposition;
  if (o.meta.contentEncoding) h['Content-Encoding'] = o.meta.contentEncoding;
  if (o.meta.contentLanguage) h['Content-Language'] = o.meta.contentLanguage;
  if (o.meta.expires) h.Expires = o.meta.expires;
  for (const [k, v] of Object.entries(o.meta.user ?? {})) h[`x-amz-meta-${k}`] = v;
  return h;
}

const etagMatches = (list: string, etag: string) =>
  list.split(',').some((t) => {
    const x = t.trim().replace(/^W\//, '');
    return x === '*' || x === etag || `"${x}"` === etag;
  });

/** Seconds precision, as HTTP dates have. */
const parseHttpDate = (v: string | undefined): number | undefined => {
  if (v === undefined) return undefined;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : t;
};

/** RFC 7232 §6 precedence: If-Match, else If-Unmodified-Since (412); If-None-Match, else If-Modified-Since (304 for GET/HEAD). */
export function checkConditions(ctx: S3Context, o: S3Object): void {
  const modified = Math.floor(o.lastModified.getTime() / 1000) * 1000;
  const ifMatch = header(ctx, 'if-match');
  if (ifMatch !== undefined) {
    if (!etagMatches(ifMatch, o.etag)) throw s3Error('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', { Condition: 'If-Match' });
  } else {
    const ius = parseHttpDate(header(ctx, 'if-unmodified-since'));
    if (ius !== undefined && modified > ius) throw s3Error('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', { Condition: 'If-Unmodified-Since' });
  }
  const ifNone = header(ctx, 'if-none-match');
  if (ifNone !== undefined) {
    if (etagMatches(ifNone, o.etag)) throw notModified(o);
  } else {
    const ims = parseHttpDate(header(ctx, 'if-modified-since'));
    if (ims !== undefined && modified <= ims) throw notModified(o);
  }
}

function notModified(o: S3Object): S3Error {
  return Object.assign(s3Error('NotModified', 'Not Modified'), { etag: o.etag, lastModified: o.lastModified });
}

export function copySourceConditions(ctx: S3Context, o: S3Object): void {
  const modified = Math.floor(o.lastModified.getTime() / 1000) * 1000;
  const failed = () => s3Error('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold');
  const im = header(ctx, 'x-amz-copy-source-if-match');
  const inm = header(ctx, 'x-amz-copy-source-if-none-match');
  const ius = parseHttpDate(header(ctx, 'x-amz-copy-source-if-unmodified-since'));
  const ims = parseHttpDate(header(ctx, 'x-amz-copy-source-if-modified-since'));
  if (im !== undefined && !etagMatches(im, o.etag)) throw failed();
  if (im === undefined && ius !== undefined && modified > ius) throw failed();
  if (inm !== undefined && etagMatches(inm, o.etag)) throw failed();
  if (inm === undefined && ims !== undefined && modified <= ims) throw failed();
}

/** S3's `encoding-type=url`: keys percent-encoded (slashes kept), so any byte survives XML. */
const urlEncode = (s: string) => encodeURIComponent(s).replace(/%2F/g, '/');

// ---------------------------------------------------------------- service and buckets

async function listBuckets(ctx: S3Context): Promise<void> {
  const [buckets, name] = await Promise.all([ctx.services.s3.listBuckets(ctx.userId), ctx.services.s3.ownerName(ctx.userId)]);
  sendXml(ctx, 'ListAllMyBucketsResult', {
    Owner: { ID: String(ctx.userId), DisplayName: name },
    Buckets: { Bucket: buckets.map((b) => ({ Name: b.name, CreationDate: iso(b.createTime) })) },
  });
}

async function createBucket(ctx: S3Context): Promise<void> {
  const name = ctx.bucket!;
  if (!isValidS3BucketName(name)) throw s3Error('InvalidBucketName', 'The specified bucket is not valid.', { BucketName: name });
  refuseAcl(ctx);
  const body = await readSmallBody(ctx, MAX_SMALL_BODY);
  if (body.length > 0) {
    const doc = parseXml(body.toString('utf8'));
    if (!('CreateBucketConfiguration' in doc)) throw s3Error('MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema.');
  }
  const result = await ctx.services.s3.createBucket(ctx.userId, name);
  if (result === 'exists') {
    throw s3Error('BucketAlreadyOwnedByYou', 'Your previous request to create the named bucket succeeded and you already own it.', { BucketName: name });
  }
  sendEmpty(ctx, 200, { Location: `/${name}` });
}

async function deleteBucket(ctx: S3Context): Promise<void> {
  const id = await requireBucket(ctx);
  const result = await ctx.services.s3.deleteBucket(ctx.userId, id);
  if (result === 'notEmpty') throw s3Error('BucketNotEmpty', 'The bucket you tried to delete is not empty', { BucketName: ctx.bucket! });
  sendEmpty(ctx, 204);
}

async function headBucket(ctx: S3Context): Promise<void> {
  await requireBucket(ctx);
  sendEmpty(ctx, 200, { 'x-amz-bucket-region': ctx.config.JCS_S3_REGION });
}

async function getBucketLocation(ctx: S3Context): Promise<void> {
  await requireBucket(ctx);
  const region = ctx.config.JCS_S3_REGION;
  // S3 answers an empty LocationConstraint for us-east-1.
  const text =
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<LocationConstraint xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${region === 'us-east-1' ? '' : region}</LocationConstraint>`;
  ctx.res.writeHead(200, { 'Content-Type': 'application/xml', 'Content-Length': Buffer.byteLength(text) });
  ctx.res.end(text);
}

async function getBucketVersioning(ctx: S3Context): Promise<void> {
  await requireBucket(ctx);
  sendXml(ctx, 'VersioningConfiguration', {});
}

function maxKeysOf(ctx: S3Context): number {
  const raw = ctx.query.get('max-keys');
  if (raw === undefined) return 1000;
  if (!/^\d{1,10}$/.test(raw)) throw s3Error('InvalidArgument', 'Provided max-keys not an integer or within integer range', { ArgumentName: 'max-keys', ArgumentValue: raw });
  return Math.min(Number(raw), 1000);
}

/** The common prefix a key falls under (through the first delimiter after the prefix), if any. */
function commonPrefixOf(key: string, prefix: string, delimiter: string): string | undefined {
  if (!delimiter || !key.startsWith(prefix)) return undefined;
  const at = key.indexOf(delimiter, prefix.length);
  return at < 0 ? undefined : key.slice(0, at + delimiter.length);
}

const encodeToken = (c: S3ListCursor) => Buffer.from(JSON.stringify(c), 'utf8').toString('base64url');
function decodeToken(token: string): S3ListCursor {
  try {
    const c = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as Record<string, unknown>;
    const v = c.after ?? c.skip;
    if (typeof v !== 'string' || v.includes('\u0000') || Object.keys(c).length !== 1) throw new Error();
    return 'after' in c ? { after: v } : { skip: v };
  } catch {
    throw s3Error('InvalidArgument', 'The continuation token provided is incorrect', { ArgumentName: 'continuation-token' });
  }
}

async function listObjects(ctx: S3Context): Promise<void> {
  const packageId = await requireBucket(ctx);
  const v2 = ctx.query.get('list-type') === '2';
  const prefix = ctx.query.get('prefix') ?? '';
  const delimiter = ctx.query.get('delimiter') ?? '';
  const encoding = ctx.query.get('encoding-type');
  if (encoding !== undefined && encoding !== 'url') throw s3Error('InvalidArgument', 'Invalid Encoding Method specified in Request', { ArgumentName: 'encoding-type' });
  const enc = encoding === 'url' ? urlEncode : (s: string) => s;
  const maxKeys = maxKeysOf(ctx);
  for (const v of [prefix, delimiter]) if (v.includes('\u0000')) throw s3Error('InvalidArgument', 'prefix and delimiter must not contain NUL');

  let cursor: S3ListCursor = null;
  const fromKey = (k: string): S3ListCursor => {
    const cp = commonPrefixOf(k, prefix, delimiter);
    return cp !== undefined ? { skip: cp } : { after: k };
  };
  const token = v2 ? ctx.query.get('continuation-token') : undefined;
  const startAfter = v2 ? ctx.query.get('start-after') : ctx.query.get('marker');
  if (token) cursor = decodeToken(token);
  else if (startAfter) {
    if (startAfter.includes('\u0000')) throw s3Error('InvalidArgument', 'the marker must not contain NUL');
    // A marker before the prefix starts at the prefix; one after the prefix's range lists nothing.
    cursor = startAfter < prefix ? null : fromKey(startAfter);
  }

  const entries = await ctx.services.s3.list(ctx.userId, packageId, { prefix, delimiter, cursor, limit: maxKeys + 1 });
  const page = entries.slice(0, maxKeys);
  const truncated = entries.length > maxKeys;
  const owner = v2 && ctx.query.get('fetch-owner') !== 'true' ? undefined : { ID: String(ctx.userId), DisplayName: await ctx.services.s3.ownerName(ctx.userId) };
  const contents = page
    .filter((e) => e.object)
    .map((e) => ({
      Key: enc(e.key!),
      LastModified: iso(e.object!.lastModified),
      ETag: e.object!.etag,
      Size: e.object!.size,
      ...(owner ? { Owner: owner } : {}),
      StorageClass: 'STANDARD',
    }));
  const prefixes = page.filter((e) => e.prefix !== undefined).map((e) => ({ Prefix: enc(e.prefix!) }));
  const last = page[page.length - 1];
  const lastCursor: S3ListCursor = last ? (last.prefix !== undefined ? { skip: last.prefix } : { after: last.key! }) : null;
  const body: XmlTree = { Name: ctx.bucket!, Prefix: enc(prefix) };
  if (v2) {
    if (token) body.ContinuationToken = token;
    if (startAfter) body.StartAfter = enc(startAfter);
    if (truncated) body.NextContinuationToken = encodeToken(lastCursor);
    body.KeyCount = page.length;
  } else {
    body.Marker = enc(startAfter ?? '');
    if (truncated) body.NextMarker = enc(last!.prefix ?? last!.key!);
  }
  body.MaxKeys = maxKeys;
  if (delimiter) body.Delimiter = enc(delimiter);
  if (encoding) body.EncodingType = encoding;
  body.IsTruncated = truncated;
  body.Contents = contents;
  body.CommonPrefixes = prefixes;
  sendXml(ctx, 'ListBucketResult', body);
}

async function deleteObjects(ctx: S3Context): Promise<void> {
  const packageId = await requireBucket(ctx);
  const hasChecksum = Object.keys(ctx.req.headers).some((h) => /^x-amz-checksum-(crc32|crc32c|sha1|sha256)$/.test(h)) || ctx.req.headers['x-amz-trailer'] !== undefined;
  if (ctx.req.headers['content-md5'] === undefined && !hasChecksum) {
    throw s3Error('InvalidRequest', 'Missing required header for this request: Content-MD5');
  }
  const body = await readSmallBody(ctx, MAX_DELETE_BODY);
  const doc = parseXml(body.toString('utf8'));
  const del = doc.Delete as Record<string, unknown> | undefined;
  if (!del || typeof del !== 'object') throw s3Error('MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema.');
  const raw = del.Object === undefined ? [] : Array.isArray(del.Object) ? del.Object : [del.Object];
  if (raw.length === 0 || raw.length > 1000) throw s3Error('MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema.');
  const quiet = xmlText(del.Quiet).trim().toLowerCase() === 'true';
  const keys: string[] = [];
  const errors: XmlTree[] = [];
  for (const o of raw as Array<Record<string, unknown>>) {
    if (!o || typeof o !== 'object' || o.Key === undefined) throw s3Error('MalformedXML', 'every Object needs a Key');
    const key = xmlText(o.Key);
    if (key === '' || key.includes('\u0000') || Buffer.byteLength(key) > 1024) errors.push({ Key: key.replace(/\u0000/g, ''), Code: 'InvalidArgument', Message: 'Invalid key' });
    else keys.push(key);
  }
  await ctx.services.s3.deleteKeys(ctx.userId, packageId, [...new Set(keys)]);
  sendXml(ctx, 'DeleteResult', { Deleted: quiet ? [] : keys.map((k) => ({ Key: k })), Error: errors });
}

// ---------------------------------------------------------------- objects

async function putObject(ctx: S3Context): Promise<void> {
  if (ctx.req.headers['x-amz-copy-source'] !== undefined) return copyObject(ctx);
  const packageId = await requireBucket(ctx);
  refuseAcl(ctx);
  if (ctx.contentLength === undefined && ctx.req.headers['transfer-encoding'] === undefined) {
    throw s3Error('MissingContentLength', 'You must provide the Content-Length HTTP header.');
  }
  if (ctx.contentLength !== undefined && ctx.contentLength > ctx.config.JCS_MAX_OBJECT_SIZE) {
    throw s3Error('EntityTooLarge', 'Your proposed upload exceeds the maximum allowed object size.');
  }
  const md5 = contentMd5(ctx);
  const meta = metaFromHeaders(ctx);
  const key = keyOf(ctx);
  const o = await ctx.services.s3
    .put(ctx.userId, packageId, key, ctx.body(), meta, (staged) => {
      if (ctx.contentLength !== undefined && staged.size !== ctx.contentLength) {
        throw s3Error('IncompleteBody', 'You did not provide the number of bytes specified by the Content-Length HTTP header.');
      }
      if (ctx.identity.payloadHashPending && staged.digest.toString('hex') !== ctx.identity.payloadHash) {
        throw s3Error('XAmzContentSHA256Mismatch', 'The provided x-amz-content-sha256 header does not match what was computed.');
      }
      if (md5 && !md5.equals(staged.md5!)) throw s3Error('BadDigest', 'The Content-MD5 you specified did not match what we received.');
    })
    .catch((e: unknown) => {
      throw streamFailure(ctx, e);
    });
  const headers: Record<string, string> = { ETag: o.etag };
  for (const [h, v] of Object.entries(ctx.req.headers)) {
    if (/^x-amz-checksum-(crc32|crc32c|sha1|sha256)$/.test(h) && typeof v === 'string') headers[h] = v;
  }
  sendEmpty(ctx, 200, headers);
}

/** A failed body read: the S3 error that caused it when there is one (the chunk decoder's, the checksum tap's). */
export function streamFailure(ctx: S3Context, e: unknown): unknown {
  if (ctx.bodyError instanceof S3Error) return ctx.bodyError;
  if (e instanceof S3Error || e instanceof DomainError) return e;
  const cause = (e as { cause?: unknown })?.cause;
  if (cause instanceof S3Error) return cause;
  if (!ctx.req.complete) return s3Error('IncompleteBody', 'The request body ended early.');
  return e;
}

export function keyOf(ctx: S3Context): string {
  const key = ctx.key!;
  if (Buffer.byteLength(key) > 1024) throw s3Error('KeyTooLongError', 'Your key is too long');
  if (key.includes('\u0000')) throw s3Error('InvalidArgument', 'Object keys must not contain NUL');
  return key;
}

/** `x-amz-copy-source` (`bucket/key`, URL-encoded, optional `?versionId=null`): the source bucket's package and key. */
export async function parseCopySource(ctx: S3Context): Promise<{ bucket: string; key: string; packageId: number }> {
  const rawSource = header(ctx, 'x-amz-copy-source')!;
  let source: string;
  try {
    source = decodeURIComponent(rawSource.split('?')[0]!);
  } catch {
    throw s3Error('InvalidArgument', 'Invalid copy source encoding', { ArgumentName: 'x-amz-copy-source' });
  }
  if (rawSource.includes('?versionId=') && !/\?versionId=null$/.test(rawSource)) throw s3Error('NotImplemented', 'versioned copy sources are not supported');
  source = source.replace(/^\//, '');
  const slash = source.indexOf('/');
  if (slash <= 0 || slash === source.length - 1) throw s3Error('InvalidArgument', 'Copy Source must mention the source bucket and key: sourcebucket/sourcekey', { ArgumentName: 'x-amz-copy-source' });
  const srcBucket = source.slice(0, slash);
  const srcKey = source.slice(slash + 1);
  const srcPackage = await ctx.services.s3.findBucket(ctx.userId, srcBucket);
  if (srcPackage === null) throw s3Error('NoSuchBucket', 'The specified bucket does not exist', { BucketName: srcBucket });
  return { bucket: srcBucket, key: srcKey, packageId: srcPackage };
}

async function copyObject(ctx: S3Context): Promise<void> {
  const dstPackage = await requireBucket(ctx);
  refuseAcl(ctx);
  const { key: srcKey, packageId: srcPackage } = await parseCopySource(ctx);
  const directive = (header(ctx, 'x-amz-metadata-directive') ?? 'COPY').toUpperCase();
  if (directive !== 'COPY' && directive !== 'REPLACE') throw s3Error('InvalidArgument', 'Unknown metadata directive.', { ArgumentName: 'x-amz-metadata-directive' });
  const meta = directive === 'REPLACE' ? metaFromHeaders(ctx) : null;
  const key = keyOf(ctx);
  if (srcPackage === dstPackage && srcKey === key && directive === 'COPY') {
    throw s3Error(
      'InvalidRequest',
      "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.",
    );
  }
  const o = await ctx.services.s3.copy(ctx.userId, { packageId: srcPackage, key: srcKey }, { packageId: dstPackage, key }, meta, (src) => copySourceConditions(ctx, src));
  if (!o) throw s3Error('NoSuchKey', 'The specified key does not exist.', { Key: srcKey });
  sendXml(ctx, 'CopyObjectResult', { LastModified: iso(o.lastModified), ETag: o.etag });
}

const OVERRIDES: Record<string, string> = {
  'response-content-type': 'Content-Type',
  'response-content-language': 'Content-Language',
  'response-expires': 'Expires',
  'response-cache-control': 'Cache-Control',
  'response-content-disposition': 'Content-Disposition',
  'response-content-encoding': 'Content-Encoding',
};

async function getObject(ctx: S3Context): Promise<void> {
  const packageId = await requireBucket(ctx);
  const head = ctx.method === 'HEAD';
  const found = await ctx.services.s3.forRead(ctx.userId, packageId, keyOf(ctx));
  if (!found) {
    if (head) throw s3Error('NoSuchKey', 'Not Found');
    throw s3Error('NoSuchKey', 'The specified key does not exist.', { Key: ctx.key! });
  }
  const o = found.object;
  try {
    checkConditions(ctx, o);
  } catch (e) {
    if (e instanceof S3Error && e.code === 'NotModified') {
      ctx.res.writeHead(304, { ETag: o.etag, 'Last-Modified': httpDate(o.lastModified) });
      ctx.res.end();
      return;
    }
    throw e;
  }
  const headers = objectHeaders(o);
  // response-* overrides: every request here is signed (no anonymous access), as S3 requires.
  for (const [param, name] of Object.entries(OVERRIDES)) {
    const v = ctx.query.get(param);
    if (v !== undefined) headers[name] = v;
  }
  const rangeHeader = header(ctx, 'range');
  const span = (o.size > 0 ? spanFromRangeHeader(rangeHeader, o.size) : null) ?? { start: 0, end: o.size - 1 };
  if (o.size === 0 && rangeHeader && /^bytes=\s*\d+-/.test(rangeHeader)) throw s3Error('InvalidRange', 'The requested range is not satisfiable', { RangeRequested: rangeHeader, ActualObjectSize: '0' });
  const partial = span.start !== 0 || span.end !== o.size - 1;
  const length = Math.max(0, span.end - span.start + 1);
  headers['Content-Length'] = length;
  if (partial) headers['Content-Range'] = `bytes ${span.start}-${span.end}/${o.size}`;
  const status = partial ? 206 : 200;
  if (head) {
    ctx.res.writeHead(status, headers);
    ctx.res.end();
    return;
  }
  if (length === 0) {
    ctx.res.writeHead(status, headers);
    ctx.res.end();
    return;
  }
  const prepared = await ctx.services.reader.prepare(found.entity, found.blocks, span, found.spaces);
  if (prepared.bytes) {
    ctx.res.writeHead(status, headers);
    ctx.res.end(prepared.bytes);
    return;
  }
  const stream = await prepared.open();
  ctx.res.writeHead(status, headers);
  pipeline(stream, ctx.res, () => undefined);
}

async function deleteObject(ctx: S3Context): Promise<void> {
  const packageId = await requireBucket(ctx);
  await ctx.services.s3.deleteKeys(ctx.userId, packageId, [keyOf(ctx)]);
  sendEmpty(ctx, 204);
}

registerS3Operations({
  'service GET': listBuckets,
  'bucket PUT': createBucket,
  'bucket DELETE': deleteBucket,
  'bucket HEAD': headBucket,
  'bucket GET': listObjects,
  'bucket GET location': getBucketLocation,
  'bucket GET versioning': getBucketVersioning,
  'bucket POST delete': deleteObjects,
  'object PUT': putObject,
  'object GET': getObject,
  'object HEAD': getObject,
  'object DELETE': deleteObject,
});
