import { S3UploadError, S3UploadsService, type S3Upload } from '#objects';
import { sendEmpty, sendXml, type S3Context, type S3Handler } from './context.js';
import { s3Error } from './errors.js';
import { contentMd5, copySourceConditions, header, keyOf, metaFromHeaders, parseCopySource, readSmallBody, refuseAcl, requireBucket, streamFailure } from './operations.js';
import { registerS3Operations } from './router.js';
import { parseXml, xmlText } from './xml.js';

/** A CompleteMultipartUpload body lists at most 10000 parts of ~100 bytes each. */
const MAX_COMPLETE_BODY = 4 * 1024 * 1024;

const iso = (d: Date) => d.toISOString();
/** S3's `encoding-type=url`: keys percent-encoded (slashes kept). */
const urlEncode = (s: string) => encodeURIComponent(s).replace(/%2F/g, '/');

/** The multipart domain's S3 codes answered as such (a DomainError's contract code would lose them). */
const s3Codes =
  (handler: S3Handler): S3Handler =>
  async (ctx) => {
    try {
      await handler(ctx);
    } catch (e) {
      const cause = e instanceof S3UploadError ? e : (e as { cause?: unknown })?.cause;
      if (cause instanceof S3UploadError) throw s3Error(cause.s3Code, cause.message);
      throw e;
    }
  };

const uploads = (ctx: S3Context) => ctx.services.app.get(S3UploadsService);

/** The open upload named by `uploadId`, of this bucket and key (another key's upload does not exist here). */
async function requireUpload(ctx: S3Context, packageId: number): Promise<S3Upload> {
  const up = await uploads(ctx).get(ctx.userId, ctx.query.get('uploadId')!);
  if (up.packageId !== packageId || up.key !== ctx.key) throw s3Error('NoSuchUpload', 'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.');
  return up;
}

function intParam(ctx: S3Context, name: string, dflt: number, min: number, max: number): number {
  const v = ctx.query.get(name);
  if (v === undefined || v === '') return dflt;
  if (!/^\d{1,6}$/.test(v) || Number(v) < min) throw s3Error('InvalidArgument', `${name} must be an integer between ${min} and ${max}`, { ArgumentName: name });
  return Math.min(Number(v), max);
}

async function owner(ctx: S3Context) {
  return { ID: String(ctx.userId), DisplayName: await ctx.services.s3.ownerName(ctx.userId) };
}

async function createMultipartUpload(ctx: S3Context): Promise<void> {
  const packageId = await requireBucket(ctx);
  refuseAcl(ctx);
  const key = keyOf(ctx);
  const up = await uploads(ctx).create(ctx.userId, packageId, key, metaFromHeaders(ctx) as Record<string, unknown>);
  sendXml(ctx, 'InitiateMultipartUploadResult', { Bucket: ctx.bucket!, Key: key, UploadId: up.uploadId });
}

async function uploadPart(ctx: S3Context): Promise<void> {
  const packageId = await requireBucket(ctx);
  const partNumber = partNumberOf(ctx);
  const up = await requireUpload(ctx, packageId);
  if (header(ctx, 'x-amz-copy-source') !== undefined) return uploadPartCopy(ctx, up, partNumber);
  if (ctx.contentLength === undefined && ctx.req.headers['transfer-encoding'] === undefined)
    throw s3Error('MissingContentLength', 'You must provide the Content-Length HTTP header.');
  const md5 = contentMd5(ctx);
  const part = await uploads(ctx)
    .uploadPart(ctx.userId, up.uploadId, partNumber, ctx.body(), {
      contentMd5: md5,
      verify: (staged) => {
        if (ctx.contentLength !== undefined && staged.size !== ctx.contentLength)
          throw s3Error('IncompleteBody', 'You did not provide the number of bytes specified by the Content-Length HTTP header.');
        if (ctx.identity.payloadHashPending && staged.digest.toString('hex') !== ctx.identity.payloadHash)
          throw s3Error('XAmzContentSHA256Mismatch', 'The provided x-amz-content-sha256 header does not match what was computed.');
      },
    })
    .catch((e: unknown) => {
      throw streamFailure(ctx, e);
    });
  const headers: Record<string, string> = { ETag: part.etag };
  for (const [h, v] of Object.entries(ctx.req.headers)) {
    if (/^x-amz-checksum-(crc32|crc32c|sha1|sha256)$/.test(h) && typeof v === 'string') headers[h] = v;
  }
  sendEmpty(ctx, 200, headers);
}

function partNumberOf(ctx: S3Context): number {
  const v = ctx.query.get('partNumber') ?? '';
  if (!/^\d{1,5}$/.test(v) || Number(v) < 1 || Number(v) > 10000)
    throw s3Error('InvalidArgument', 'Part number must be an integer between 1 and 10000, inclusive', { ArgumentName: 'partNumber', ArgumentValue: v });
  return Number(v);
}

async function uploadPartCopy(ctx: S3Context, up: S3Upload, partNumber: number): Promise<void> {
  const { bucket, key, packageId } = await parseCopySource(ctx);
  const range = header(ctx, 'x-amz-copy-source-range');
  const part = await uploads(ctx).uploadPartCopy(ctx.userId, up.uploadId, partNumber, {
    read: async () => {
      const found = await ctx.services.s3.forRead(ctx.userId, packageId, key);
      if (!found) throw s3Error('NoSuchKey', 'The specified key does not exist.', { Key: key, BucketName: bucket });
      copySourceConditions(ctx, found.object);
      return { object: found.entity, blocks: found.blocks, spaces: found.spaces };
    },
    range,
  });
  sendXml(ctx, 'CopyPartResult', { LastModified: iso(part.lastModified), ETag: part.etag });
}

async function completeMultipartUpload(ctx: S3Context): Promise<void> {
  const packageId = await requireBucket(ctx);
  const key = keyOf(ctx);
  const body = await readSmallBody(ctx, MAX_COMPLETE_BODY);
  const doc = parseXml(body.toString('utf8')).CompleteMultipartUpload as Record<string, unknown> | undefined;
  if (!doc || typeof doc !== 'object') throw s3Error('MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema.');
  const raw = doc.Part === undefined ? [] : Array.isArray(doc.Part) ? doc.Part : [doc.Part];
  const list = raw.map((p) => {
    const part = p as Record<string, unknown>;
    const n = xmlText(part?.PartNumber).trim();
    if (!/^\d{1,5}$/.test(n)) throw s3Error('MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema.');
    return { partNumber: Number(n), etag: xmlText(part.ETag) };
  });
  const abort = new AbortController();
  const gone = () => abort.abort();
  ctx.res.once('close', gone);
  try {
    const done = await uploads(ctx).complete(ctx.userId, ctx.query.get('uploadId')!, list, {
      signal: abort.signal,
      afterCommit: (em, d) => ctx.services.s3.setS3Meta(em, d.objectId, d.etag.slice(1, -1), d.s3Meta),
    });
    if (done.packageId !== packageId || done.key !== key) throw s3Error('NoSuchUpload', 'The specified upload does not exist.');
    sendXml(ctx, 'CompleteMultipartUploadResult', {
      Location: `/${ctx.bucket}/${urlEncode(key)}`,
      Bucket: ctx.bucket!,
      Key: key,
      ETag: done.etag,
    });
  } finally {
    ctx.res.off('close', gone);
  }
}

async function abortMultipartUpload(ctx: S3Context): Promise<void> {
  const packageId = await requireBucket(ctx);
  const up = await requireUpload(ctx, packageId);
  await uploads(ctx).abort(ctx.userId, up.uploadId);
  sendEmpty(ctx, 204);
}

async function listParts(ctx: S3Context): Promise<void> {
  const packageId = await requireBucket(ctx);
  const up = await requireUpload(ctx, packageId);
  const marker = intParam(ctx, 'part-number-marker', 0, 0, 10000);
  const max = intParam(ctx, 'max-parts', 1000, 0, 1000);
  const page = await uploads(ctx).listParts(ctx.userId, up.uploadId, { partNumberMarker: marker, maxParts: max });
  const who = await owner(ctx);
  sendXml(ctx, 'ListPartsResult', {
    Bucket: ctx.bucket!,
    Key: up.key,
    UploadId: up.uploadId,
    Initiator: who,
    Owner: who,
    StorageClass: 'STANDARD',
    PartNumberMarker: marker,
    NextPartNumberMarker: page.nextPartNumberMarker ?? marker,
    MaxParts: max,
    IsTruncated: page.isTruncated,
    Part: page.parts.map((p) => ({ PartNumber: p.partNumber, LastModified: iso(p.lastModified), ETag: p.etag, Size: p.size })),
  });
}

async function listMultipartUploads(ctx: S3Context): Promise<void> {
  const packageId = await requireBucket(ctx);
  const encoding = ctx.query.get('encoding-type');
  if (encoding !== undefined && encoding !== 'url') throw s3Error('InvalidArgument', 'Invalid Encoding Method specified in Request', { ArgumentName: 'encoding-type' });
  const enc = (s: string | undefined) => (s === undefined ? undefined : encoding === 'url' ? urlEncode(s) : s);
  const prefix = ctx.query.get('prefix') ?? '';
  const delimiter = ctx.query.get('delimiter') ?? '';
  const keyMarker = ctx.query.get('key-marker') ?? '';
  const uploadIdMarker = ctx.query.get('upload-id-marker') ?? '';
  const max = intParam(ctx, 'max-uploads', 1000, 0, 1000);
  const page = await uploads(ctx).listUploads(ctx.userId, packageId, {
    prefix,
    delimiter,
    keyMarker: keyMarker || undefined,
    uploadIdMarker: uploadIdMarker || undefined,
    maxUploads: max,
  });
  const who = await owner(ctx);
  sendXml(ctx, 'ListMultipartUploadsResult', {
    Bucket: ctx.bucket!,
    KeyMarker: enc(keyMarker),
    UploadIdMarker: uploadIdMarker,
    NextKeyMarker: page.isTruncated ? enc(page.nextKeyMarker) : undefined,
    NextUploadIdMarker: page.isTruncated ? page.nextUploadIdMarker : undefined,
    Delimiter: delimiter ? enc(delimiter) : undefined,
    Prefix: enc(prefix),
    EncodingType: encoding,
    MaxUploads: max,
    IsTruncated: page.isTruncated,
    Upload: page.uploads.map((u) => ({
      Key: enc(u.key),
      UploadId: u.uploadId,
      Initiator: who,
      Owner: who,
      StorageClass: 'STANDARD',
      Initiated: iso(u.createTime),
    })),
    CommonPrefixes: page.commonPrefixes.map((p) => ({ Prefix: enc(p) })),
  });
}


registerS3Operations({
  'object POST uploads': s3Codes(createMultipartUpload),
  'object PUT uploadId': s3Codes(uploadPart),
  'object POST uploadId': s3Codes(completeMultipartUpload),
  'object DELETE uploadId': s3Codes(abortMultipartUpload),
  'object GET uploadId': s3Codes(listParts),
  'bucket GET uploads': s3Codes(listMultipartUploads),
});
