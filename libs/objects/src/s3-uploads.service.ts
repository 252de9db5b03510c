import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { createHash, randomBytes } from 'node:crypto';
import { Readable, Transform } from 'node:stream';
import { DataSource, type EntityManager } from 'typeorm';
import { APP_CONFIG, type AppConfig } from '#config';
import { DomainError, badArgument, operationFailed, type ErrorCode } from '#common';
import { pgCode, type ObjectBlockEntity, type ObjectEntity } from '#db';
import { RedundancyJobs } from '#redundancy';
import { EMPTY_FULL_HASH, ShardGoneError, ShardRegistry, fullHash } from '#shard-store';
import { SpaceDrivers, SpacesService } from '#user-spaces';
import { runTransaction } from '#packages';
import { ObjectReader } from './object-reader.js';
import { assertS3Key } from './s3-key.js';
import { ObjectsService, type ObjectForRead } from './objects.service.js';

/** S3's limits for multipart uploads. */
export const S3_MAX_PARTS = 10_000;
export const S3_MIN_PART_SIZE = 5 * 1024 * 1024;
export const S3_MAX_PART_SIZE = 5 * 1024 * 1024 * 1024;

/** S3 error codes of the multipart operations that have no /v1 counterpart. */
export type S3UploadErrorCode =
  | 'NoSuchUpload'
  | 'InvalidPart'
  | 'InvalidPartOrder'
  | 'EntityTooSmall'
  | 'EntityTooLarge'
  | 'InvalidArgument'
  | 'InvalidRange'
  | 'MalformedXML'
  | 'BadDigest';

/**
 * A domain error that also names its S3 code: the S3 edge answers `s3Code`, /v1 (if it ever meets
 * one) the contract code.
 */
export class S3UploadError extends DomainError {
  constructor(
    readonly s3Code: S3UploadErrorCode,
    message: string,
    code: Exclude<ErrorCode, 'OK'> = 'BadArgument',
    status?: number,
  ) {
    super(code, message, status);
  }
}

const noSuchUpload = (uploadId: string) =>
  new S3UploadError('NoSuchUpload', `The specified upload does not exist: ${uploadId.slice(0, 80)}`, 'DataNotFound', 404);

export interface S3Upload {
  uploadId: string;
  packageId: number;
  key: string;
  s3Meta: Record<string, unknown>;
  createTime: Date;
}

export interface S3Part {
  partNumber: number;
  size: number;
  /** `"<hex md5>"`, quoted as S3 sends it. */
  etag: string;
  lastModified: Date;
}

export interface CompletedS3Upload {
  uploadId: string;
  packageId: number;
  key: string;
  objectId: number;
  /** `"<hex md5 of the part MD5s>-N"`. */
  etag: string;
  s3Meta: Record<string, unknown>;
}

export interface PartOptions {
  /** Raw 16 bytes of a Content-MD5 header: BadDigest when the bytes differ. */
  contentMd5?: Buffer;
  signal?: AbortSignal;
  /**
   * Sees the staged part before it is published (the edge's checks: declared length, signed SHA-256);
   * a throw discards it and fails the upload of the part.
   */
  verify?: (staged: { size: number; digest: Buffer; md5: Buffer }) => void;
}

/** Runs in Complete's transaction once the object is committed (the edge stores its ETag and metadata). */
export type AfterComplete = (em: EntityManager, done: CompletedS3Upload) => Promise<void>;

export interface ListUploadsOptions {
  prefix?: string;
  delimiter?: string;
  keyMarker?: string;
  uploadIdMarker?: string;
  maxUploads?: number;
}

export interface UploadsPage {
  uploads: S3Upload[];
  commonPrefixes: string[];
  isTruncated: boolean;
  nextKeyMarker?: string;
  nextUploadIdMarker?: string;
}

export interface PartsPage {
  upload: S3Upload;
  parts: S3Part[];
  isTruncated: boolean;
  nextPartNumberMarker?: number;
}

type UploadRow = {
  upload_id: string;
  package_id: string;
  key: string;
  s3_meta: Record<string, unknown>;
  create_time: Date;
  completed_object_id: string | null;
  completed_etag: string | null;
};
type PartRow = { part_number: number; user_space_id: string; file_hash: string; size: string; md5: Buffer; create_time: Date };

const SPACE_FULL = 'JC002';
/** Rows read per listing query; a listing of common prefixes may need several. */
const LIST_PAGE = 1000;
/** Sorts after every character a key can hold: the first key past all keys starting with a prefix. */
const AFTER_PREFIX = '\u{10FFFF}';

/**
 * S3 multipart uploads (issue 11 §4): invisible until Complete, which commits the object (in place
 * over an existing key, as /v1 does) with the parts as segments. Parts are shards of their own,
 * staged and published like /v1 parts; the collector and the space accounting count them. An
 * upload's row lock serialises UploadPart, Complete and Abort. Every query carries the user ID, so
 * another tenant's upload answers NoSuchUpload like a missing one.
 */
@Injectable()
export class S3UploadsService {
  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly objects: ObjectsService,
    private readonly spaces: SpacesService,
    private readonly drivers: SpaceDrivers,
    private readonly shards: ShardRegistry,
    private readonly reader: ObjectReader,
    private readonly redundancyJobs: RedundancyJobs,
  ) {}

  async create(userId: number, packageId: number, key: string, s3Meta: Record<string, unknown> = {}): Promise<S3Upload> {
    assertS3Key(key);
    await this.objects.requirePackage(userId, packageId);
    const uploadId = randomBytes(24).toString('base64url');
    const [row] = await runTransaction(this.ds, `package ${packageId} not found`, (em) =>
      em.query(
        `INSERT INTO s3_uploads (upload_id, user_id, package_id, key, s3_meta)
         SELECT $1, $2, package_id, $4, $5::jsonb FROM packages WHERE user_id = $2 AND package_id = $3
         RETURNING upload_id, package_id, key, s3_meta, create_time`,
        [uploadId, userId, packageId, key, JSON.stringify(s3Meta)],
      ),
    );
    if (!row) await this.objects.requirePackage(userId, packageId);
    return uploadOf(row as UploadRow);
  }

  /** The tenant's open upload (NoSuchUpload when missing, completed or another tenant's). */
  async get(userId: number, uploadId: string): Promise<S3Upload> {
    return uploadOf(await this.requireOpen(this.ds.manager, userId, uploadId));
  }

  /**
   * Stores part `partNumber` from `body` (the same number again replaces it); `contentMd5` (raw 16
   * bytes) is checked when given. The MD5 is computed while the bytes stream into the shard store.
   */
  async uploadPart(
    userId: number,
    uploadId: string,
    partNumber: number,
    body: Readable,
    opts: PartOptions = {},
  ): Promise<{ etag: string; size: number }> {
    assertPartNumber(partNumber);
    const upload = await this.requireOpen(this.ds.manager, userId, uploadId);
    return this.storePart(userId, upload, partNumber, body, opts);
  }

  /**
   * UploadPartCopy: part `partNumber` from the bytes of an object (read through ObjectReader, the
   * domain read path), optionally a `bytes=first-last` range of it. `check` sees the source object
   * first (the edge's copy-source conditions).
   */
  async uploadPartCopy(
    userId: number,
    uploadId: string,
    partNumber: number,
    source: ({ packageId: number; path: string } | { read: () => Promise<ObjectForRead> }) & { range?: string; check?: (object: ObjectEntity) => void },
    signal?: AbortSignal,
  ): Promise<{ etag: string; size: number; lastModified: Date }> {
    assertPartNumber(partNumber);
    const upload = await this.requireOpen(this.ds.manager, userId, uploadId);
    // `read`: the edge looks the source up itself (S3 keys /v1 paths would refuse, its ETag for `check`).
    const { object, blocks, spaces } =
      'read' in source ? await source.read() : await this.objects.getByPathForRead(userId, source.packageId, source.path);
    source.check?.(object);
    const span = source.range === undefined ? { start: 0, end: object.size - 1 } : copySourceSpan(source.range, object.size);
    let body: Readable;
    if (span.end < span.start) body = Readable.from([]);
    else {
      const read = await this.reader.prepare(object, blocks, span, spaces);
      body = read.bytes ? Readable.from([read.bytes]) : await read.open();
    }
    const stored = await this.storePart(userId, upload, partNumber, body, { signal });
    return { ...stored, lastModified: new Date() };
  }

  async complete(
    userId: number,
    uploadId: string,
    list: Array<{ partNumber: number; etag: string }>,
    opts: { signal?: AbortSignal; afterCommit?: AfterComplete } = {},
  ): Promise<CompletedS3Upload> {
    const signal = opts.signal;
    const first = await this.findUpload(this.ds.manager, userId, uploadId);
    if (!first) throw noSuchUpload(uploadId);
    if (first.completed_object_id) return completedOf(first);
    if (list.length === 0) throw new S3UploadError('MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema');
    if (list.length > S3_MAX_PARTS) throw new S3UploadError('InvalidArgument', `Part number must be an integer between 1 and ${S3_MAX_PARTS}`);
    for (let i = 1; i < list.length; i++)
      if (list[i]!.partNumber <= list[i - 1]!.partNumber)
        throw new S3UploadError('InvalidPartOrder', 'The list of parts was not in ascending order. Parts must be ordered by part number.');
    const stored = new Map((await this.partRows(this.ds.manager, uploadId)).map((p) => [p.part_number, p]));
    // An Abort between the two reads took the parts with the upload: that is NoSuchUpload, not InvalidPart.
    if (list.some((l) => !stored.has(l.partNumber)) && !(await this.findUpload(this.ds.manager, userId, uploadId))) throw noSuchUpload(uploadId);
    const chosen = list.map((l) => {
      const p = stored.get(l.partNumber);
      if (!p || unquote(l.etag) !== p.md5.toString('hex'))
        throw new S3UploadError('InvalidPart', `One or more of the specified parts could not be found (part ${l.partNumber}). The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.`);
      return p;
    });
    chosen.forEach((p, i) => {
      if (i < chosen.length - 1 && Number(p.size) < S3_MIN_PART_SIZE)
        throw new S3UploadError('EntityTooSmall', `Your proposed upload is smaller than the minimum allowed size (part ${p.part_number})`);
    });
    const size = chosen.reduce((s, p) => s + Number(p.size), 0);
    if (size > this.config.JCS_MAX_OBJECT_SIZE)
      throw new S3UploadError('EntityTooLarge', `the joined object would exceed ${this.config.JCS_MAX_OBJECT_SIZE} bytes`, 'QuotaExceeded', 413);
    const blocks = chosen.map((p, i) => ({ index: i, userSpaceId: Number(p.user_space_id), fileHash: p.file_hash, size: Number(p.size) }));
    const redundancy = { type: 'segment' as const, segments: blocks.map((b) => b.size) };
    const md5s = createHash('md5');
    for (const p of chosen) md5s.update(p.md5);
    const etag = `"${md5s.digest('hex')}-${chosen.length}"`;

    // The Full hash of the joined bytes, streamed once through the part shards in order (SHA-256s
    // do not combine), as /v1's completion does: no byte is copied.
    const fileHash = size === 0 ? EMPTY_FULL_HASH : await this.hashJoined(userId, first, size, redundancy, blocks, signal);

    const result = await runTransaction(this.ds, `package ${first.package_id} not found`, async (em) => {
      const upload = await this.findUpload(em, userId, uploadId, true);
      if (!upload) throw noSuchUpload(uploadId);
      if (upload.completed_object_id) return completedOf(upload); // a racing Complete won
      if (signal?.aborted) throw badArgument('the client closed the connection before the completion ended');
      // A part replaced while we were hashing would make the hash wrong.
      const now = new Map((await this.partRows(em, uploadId)).map((p) => [p.part_number, p]));
      if (chosen.some((p) => now.get(p.part_number)?.file_hash !== p.file_hash || !now.get(p.part_number)!.md5.equals(p.md5)))
        throw new S3UploadError('InvalidPart', 'a part was replaced while the upload was completing; complete it again');
      const [obj] = await this.objects
        .commitObjects(em, userId, Number(upload.package_id), [{ path: upload.key, size, fileHash, redundancy, blocks }])
        .catch(asQuota);
      // The object's blocks now hold the shards; the parts' rows (and their accounting) go.
      await em.query('DELETE FROM s3_upload_parts WHERE upload_id = $1', [uploadId]).catch(asQuota);
      await em.query(
        `UPDATE s3_uploads SET completed_object_id = $3, completed_etag = $4, completed_time = now() WHERE user_id = $1 AND upload_id = $2`,
        [userId, uploadId, obj!.objectId, etag],
      );
      const done = { ...completedOf(upload), objectId: obj!.objectId, etag };
      await opts.afterCommit?.(em, done);
      return { ...done, fresh: true };
    }).catch((e: unknown) => {
      if (e instanceof ShardGoneError) throw operationFailed('a part took too long to complete and its data was collected; upload it again', 503);
      throw e;
    });
    if ('fresh' in result) {
      await this.redundancyJobs.queueConvert(userId, { objectId: result.objectId });
      const { fresh: _, ...done } = result;
      return done;
    }
    return result;
  }

  /** Drops the upload and its parts (their shards are left to the collector). */
  async abort(userId: number, uploadId: string): Promise<void> {
    // Its row lock waits for a Complete or UploadPart of the upload in progress.
    const [{ n }] = await this.ds.query(
      `WITH d AS (DELETE FROM s3_uploads WHERE user_id = $1 AND upload_id = $2 AND completed_time IS NULL RETURNING 1)
       SELECT count(*)::int AS n FROM d`,
      [userId, uploadId],
    );
    if (n === 0) throw noSuchUpload(uploadId);
  }

  async listParts(userId: number, uploadId: string, opts: { partNumberMarker?: number; maxParts?: number } = {}): Promise<PartsPage> {
    const upload = await this.requireOpen(this.ds.manager, userId, uploadId);
    const marker = opts.partNumberMarker ?? 0;
    const max = Math.min(Math.max(opts.maxParts ?? 1000, 0), 1000);
    const rows: PartRow[] = await this.ds.query(
      `SELECT p.part_number, p.size, p.md5, p.create_time FROM s3_upload_parts p JOIN s3_uploads u ON u.upload_id = p.upload_id
       WHERE u.user_id = $1 AND p.upload_id = $2 AND p.part_number > $3 ORDER BY p.part_number LIMIT $4`,
      [userId, uploadId, marker, max + 1],
    );
    const parts = rows.slice(0, max).map(partOf);
    const isTruncated = rows.length > max;
    return { upload: uploadOf(upload), parts, isTruncated, nextPartNumberMarker: parts.length ? parts[parts.length - 1]!.partNumber : undefined };
  }

  /** Open uploads of a package in key (byte) order, then upload ID; `delimiter` rolls keys up. */
  async listUploads(userId: number, packageId: number, opts: ListUploadsOptions = {}): Promise<UploadsPage> {
    await this.objects.requirePackage(userId, packageId);
    const prefix = opts.prefix ?? '';
    const delimiter = opts.delimiter ?? '';
    const max = Math.min(Math.max(opts.maxUploads ?? 1000, 0), 1000);
    const page: UploadsPage = { uploads: [], commonPrefixes: [], isTruncated: false };
    let key = opts.keyMarker ?? '';
    let id = opts.keyMarker && opts.uploadIdMarker ? opts.uploadIdMarker : AFTER_PREFIX;
    const full = () => page.uploads.length + page.commonPrefixes.length >= max;
    for (;;) {
      const rows: UploadRow[] = await this.ds.query(
        `SELECT upload_id, package_id, key, s3_meta, create_time FROM s3_uploads
         WHERE user_id = $1 AND package_id = $2 AND completed_time IS NULL AND starts_with(key, $3)
           AND (key COLLATE "C" > $4 OR (key = $4 AND upload_id COLLATE "C" > $5))
         ORDER BY key COLLATE "C", upload_id COLLATE "C" LIMIT $6`,
        [userId, packageId, prefix, key, id, LIST_PAGE],
      );
      let skipped = false;
      for (const r of rows) {
        const cut = delimiter ? r.key.indexOf(delimiter, prefix.length) : -1;
        if (cut >= 0) {
          const cp = r.key.slice(0, cut + delimiter.length);
          // A prefix up to the marker was on an earlier page (its NextKeyMarker).
          const seen = opts.keyMarker !== undefined && Buffer.compare(Buffer.from(cp), Buffer.from(opts.keyMarker)) <= 0;
          if (seen) {
            key = cp + AFTER_PREFIX;
            id = AFTER_PREFIX;
            skipped = true;
            break;
          }
          if (full()) return { ...page, isTruncated: true };
          page.commonPrefixes.push(cp);
          page.nextKeyMarker = cp;
          page.nextUploadIdMarker = undefined;
          // Jump past every key under this prefix.
          key = cp + AFTER_PREFIX;
          id = AFTER_PREFIX;
          skipped = true;
          break;
        }
        if (full()) return { ...page, isTruncated: true };
        page.uploads.push(uploadOf(r));
        page.nextKeyMarker = r.key;
        page.nextUploadIdMarker = r.upload_id;
        key = r.key;
        id = r.upload_id;
      }
      if (!skipped && rows.length < LIST_PAGE) return page;
    }
  }

  private async storePart(
    userId: number,
    upload: UploadRow,
    partNumber: number,
    body: Readable,
    opts: PartOptions,
  ): Promise<{ etag: string; size: number }> {
    const space = await this.spaces.uploadTarget(userId, undefined, Number(upload.package_id));
    const store = this.drivers.shardStoreFor(space);
    const md5 = createHash('md5');
    const tap = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        md5.update(chunk);
        cb(null, chunk);
      },
    });
    body.once('error', (e) => tap.destroy(e));
    body.pipe(tap);
    const maxSize = Math.min(S3_MAX_PART_SIZE, this.config.JCS_MAX_OBJECT_SIZE);
    const shard = await store.stage(tap, { maxSize, signal: opts.signal }).finally(() => body.unpipe(tap));
    const digest = md5.digest();
    try {
      if (opts.contentMd5 && !opts.contentMd5.equals(digest)) throw new S3UploadError('BadDigest', 'The Content-MD5 you specified did not match what we received.');
      opts.verify?.({ size: shard.size, digest: shard.digest, md5: digest });
    } catch (e) {
      await store.discard([shard]);
      throw e;
    }
    await store.publish([shard], (shards) => this.shards.touch(space.userSpaceId, shards));
    await runTransaction(this.ds, `upload ${upload.upload_id} not found`, async (em) => {
      await this.requireOpen(em, userId, upload.upload_id, true);
      // Holds the part's shard against the collector (and clears a doomed mark).
      await this.shards.reference(em, [{ userSpaceId: space.userSpaceId, fileHash: shard.fileHash }]);
      await em
        .query(
          `INSERT INTO s3_upload_parts (upload_id, part_number, user_space_id, file_hash, size, md5, create_time)
           VALUES ($1, $2, $3, $4, $5, $6, now())
           ON CONFLICT (upload_id, part_number) DO UPDATE
             SET user_space_id = EXCLUDED.user_space_id, file_hash = EXCLUDED.file_hash, size = EXCLUDED.size,
                 md5 = EXCLUDED.md5, create_time = now()`,
          [upload.upload_id, partNumber, space.userSpaceId, shard.fileHash, shard.size, digest],
        )
        .catch(asQuota);
    }).catch((e: unknown) => {
      if (e instanceof ShardGoneError) throw operationFailed('the part took too long to commit and its data was collected; upload it again', 503);
      throw e;
    });
    return { etag: `"${digest.toString('hex')}"`, size: shard.size };
  }

  private async hashJoined(
    userId: number,
    upload: UploadRow,
    size: number,
    redundancy: { type: 'segment'; segments: number[] },
    blocks: Array<{ index: number; userSpaceId: number; fileHash: string; size: number }>,
    signal?: AbortSignal,
  ): Promise<string> {
    const probe = { objectId: 0, userId, packageId: Number(upload.package_id), path: upload.key, size, redundancy } as unknown as ObjectEntity;
    const read = await this.reader.prepare(probe, blocks.map((b) => ({ ...b, objectId: 0 })) as unknown as ObjectBlockEntity[], { start: 0, end: size - 1 });
    const hash = createHash('sha256');
    const bytes = read.bytes ? Readable.from([read.bytes]) : await read.open();
    const stop = () => bytes.destroy(badArgument('the client closed the connection before the completion ended'));
    signal?.addEventListener('abort', stop, { once: true });
    try {
      for await (const chunk of bytes) hash.update(chunk as Buffer);
    } finally {
      signal?.removeEventListener('abort', stop);
      bytes.destroy();
    }
    return fullHash(hash.digest());
  }

  private async findUpload(em: EntityManager, userId: number, uploadId: string, lock = false): Promise<UploadRow | undefined> {
    const [row] = await em.query(
      `SELECT upload_id, package_id, key, s3_meta, create_time, completed_object_id, completed_etag
       FROM s3_uploads WHERE user_id = $1 AND upload_id = $2${lock ? ' FOR UPDATE' : ''}`,
      [userId, uploadId],
    );
    return row;
  }

  /** The tenant's open upload; `lock` takes its row lock (serialising parts, Complete and Abort). */
  private async requireOpen(em: EntityManager, userId: number, uploadId: string, lock = false): Promise<UploadRow> {
    const row = await this.findUpload(em, userId, uploadId, lock);
    if (!row || row.completed_object_id) throw noSuchUpload(uploadId);
    return row;
  }

  private partRows(em: EntityManager, uploadId: string): Promise<PartRow[]> {
    return em.query('SELECT part_number, user_space_id, file_hash, size, md5, create_time FROM s3_upload_parts WHERE upload_id = $1', [uploadId]);
  }
}

function uploadOf(r: UploadRow): S3Upload {
  return { uploadId: r.upload_id, packageId: Number(r.package_id), key: r.key, s3Meta: r.s3_meta ?? {}, createTime: new Date(r.create_time) };
}

function partOf(r: PartRow): S3Part {
  return { partNumber: r.part_number, size: Number(r.size), etag: `"${r.md5.toString('hex')}"`, lastModified: new Date(r.create_time) };
}

function completedOf(r: UploadRow): CompletedS3Upload {
  return {
    uploadId: r.upload_id,
    packageId: Number(r.package_id),
    key: r.key,
    objectId: Number(r.completed_object_id),
    etag: r.completed_etag ?? '',
    s3Meta: r.s3_meta ?? {},
  };
}

const unquote = (etag: string) => etag.trim().replace(/^"|"$/g, '').toLowerCase();

function assertPartNumber(n: number): void {
  if (!Number.isInteger(n) || n < 1 || n > S3_MAX_PARTS)
    throw new S3UploadError('InvalidArgument', `Part number must be an integer between 1 and ${S3_MAX_PARTS}, inclusive`);
}

/** `x-amz-copy-source-range`: exactly `bytes=first-last`, inside the source object. */
export function copySourceSpan(range: string, size: number): { start: number; end: number } {
  const m = /^bytes=(\d+)-(\d+)$/.exec(range.trim());
  if (!m) throw new S3UploadError('InvalidArgument', 'The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy');
  const start = Number(m[1]);
  const end = Number(m[2]);
  if (end < start) throw new S3UploadError('InvalidArgument', 'The x-amz-copy-source-range value must be of the form bytes=first-last');
  if (end >= size) throw new S3UploadError('InvalidRange', 'The requested range is not satisfiable', 'BadArgument', 416);
  return { start, end };
}

/** A statement refused by the space accounting (JC002): the space has no room for it. */
function asQuota(e: unknown): never {
  if (pgCode(e) === SPACE_FULL) throw new DomainError('QuotaExceeded', 'the user space has no room left for this part', 413);
  throw e;
}
