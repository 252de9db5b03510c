import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, type EntityManager } from 'typeorm';
import { createHash } from 'node:crypto';
import { APP_CONFIG, type AppConfig } from '#config';
import { pgCode, sqlOf, userSpaceFromRow, type ObjectBlockEntity, type ObjectEntity, type Redundancy, type Sql, type UserSpaceEntity } from '#db';
import { runTransaction } from '#packages';
import { ShardGoneError, type StagedShard } from '#shard-store';
import { objectFromRow } from './object-view.js';
import { ObjectsService, forReadFromRow } from './objects.service.js';
import { BLOCKS_FOR_READ } from './statements.js';
import { assertS3Key } from './s3-key.js';

/** The S3 headers stored with an object (objects.s3_meta); `user` holds x-amz-meta-* without the prefix. */
export interface S3Meta {
  contentType?: string;
  cacheControl?: string;
  contentDisposition?: string;
  contentEncoding?: string;
  contentLanguage?: string;
  expires?: string;
  user?: Record<string, string>;
}

/** An object as S3 sees it. */
export interface S3Object {
  objectId: number;
  packageId: number;
  key: string;
  size: number;
  fileHash: string;
  redundancy: Redundancy;
  /** Quoted: the stored MD5 (`hex` or `hex-N`), or the hex SHA-256 of an object written through /v1. */
  etag: string;
  lastModified: Date;
  meta: S3Meta;
}

export interface S3ObjectForRead {
  object: S3Object;
  entity: ObjectEntity;
  blocks: ObjectBlockEntity[];
  spaces: Map<number, UserSpaceEntity>;
}

export interface S3ListEntry {
  key?: string;
  object?: S3Object;
  /** A common prefix (rolled-up keys), when `key` is absent. */
  prefix?: string;
}

/** Where a listing resumes: after a key, or past every key under a common prefix. */
export type S3ListCursor = { after: string } | { skip: string } | null;

/**
 * S3 buckets rule (CreateBucket): 3–63 characters of lowercase letters, digits, `.` and `-`, starting
 * and ending with a letter or digit, no `..`, not shaped like an IPv4 address, none of S3's reserved
 * prefixes and suffixes. Packages of the home bucket with other names (created through /v1) are not S3
 * buckets: ListBuckets leaves them out and they answer NoSuchBucket.
 */
export function isValidS3BucketName(name: string): boolean {
  return (
    /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(name) &&
    !name.includes('..') &&
    !/^\d+\.\d+\.\d+\.\d+$/.test(name) &&
    !/^(xn--|sthree-|amzn-s3-demo-)/.test(name) &&
    !/(-s3alias|--ol-s3|--x-s3|\.mrap)$/.test(name)
  );
}

const OBJECT_COLUMNS = 'o.object_id, o.user_id, o.package_id, o.path, o.size, o.file_hash, o.redundancy, o.create_time, o.update_time, o.etag, o.s3_meta';

const READ_BY_KEY = {
  name: 's3.readByKey',
  text: `SELECT ${OBJECT_COLUMNS}, ${BLOCKS_FOR_READ}
  FROM objects o WHERE o.user_id = $1 AND o.package_id = $2 AND o.path = $3 AND o.redundancy->>'type' <> 'multipartUpload'`,
};

const HEAD_BY_KEY = {
  name: 's3.headByKey',
  text: `SELECT ${OBJECT_COLUMNS} FROM objects o
         WHERE o.user_id = $1 AND o.package_id = $2 AND o.path = $3 AND o.redundancy->>'type' <> 'multipartUpload'`,
};

const FIND_BUCKET = {
  name: 's3.findBucket',
  text: `SELECT p.package_id FROM packages p JOIN buckets b ON b.bucket_id = p.bucket_id AND b.user_id = p.user_id
         WHERE p.user_id = $1 AND b.name = $2 AND p.name = $3`,
};

/**
 * The S3 view of a tenant's data (issue 11 §3): its S3 buckets are the packages of its JCS bucket
 * JCS_S3_HOME_BUCKET (created on first use), S3 keys are object paths. Writes go through
 * ObjectsService (one storage path); every statement carries the tenant's user_id.
 */
@Injectable()
export class S3Objects {
  private readonly sql: Sql;

  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly objects: ObjectsService,
  ) {
    this.sql = sqlOf(ds);
  }

  /** The home bucket's id, created when missing (race-safe: the insert ignores a concurrent one). */
  async homeBucket(userId: number): Promise<number> {
    const name = this.config.JCS_S3_HOME_BUCKET;
    for (;;) {
      const rows = await this.ds.query('SELECT bucket_id FROM buckets WHERE user_id = $1 AND name = $2', [userId, name]);
      if (rows.length) return Number(rows[0].bucket_id);
      await this.ds.query('INSERT INTO buckets (user_id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING', [userId, name]);
    }
  }

  /** Stores an object's S3 ETag (unquoted) and metadata in the caller's transaction (CompleteMultipartUpload's). */
  setS3Meta(em: EntityManager, objectId: number, etag: string, meta: S3Meta): Promise<void> {
    return setS3Meta(em, objectId, etag, meta);
  }

  /** The tenant's name (S3's Owner DisplayName). */
  async ownerName(userId: number): Promise<string> {
    const rows = await this.ds.query('SELECT name FROM users WHERE user_id = $1', [userId]);
    return rows.length ? String(rows[0].name) : '';
  }

  async listBuckets(userId: number): Promise<Array<{ name: string; createTime: Date }>> {
    const rows: Array<{ name: string; create_time: Date }> = await this.ds.query(
      `SELECT p.name, p.create_time FROM packages p JOIN buckets b ON b.bucket_id = p.bucket_id AND b.user_id = p.user_id
       WHERE p.user_id = $1 AND b.name = $2 ORDER BY p.name COLLATE "C"`,
      [userId, this.config.JCS_S3_HOME_BUCKET],
    );
    return rows.filter((r) => isValidS3BucketName(r.name)).map((r) => ({ name: r.name, createTime: new Date(r.create_time) }));
  }

  /** The package behind an S3 bucket, or null (missing, another tenant's, or not an S3 bucket name). */
  async findBucket(userId: number, name: string): Promise<number | null> {
    if (!isValidS3BucketName(name)) return null;
    const [row] = await this.sql.rows(FIND_BUCKET, [userId, this.config.JCS_S3_HOME_BUCKET, name]);
    return row ? Number(row.package_id) : null;
  }

  async createBucket(userId: number, name: string): Promise<'created' | 'exists'> {
    const bucketId = await this.homeBucket(userId);
    const rows = await this.ds
      .query('INSERT INTO packages (user_id, bucket_id, name) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING package_id', [userId, bucketId, name])
      .catch((e: unknown) => {
        if (pgCode(e) === '23503') return null; // the home bucket was deleted meanwhile: try again
        throw e;
      });
    if (rows === null) return this.createBucket(userId, name);
    return rows.length ? 'created' : 'exists';
  }

  /** Deletes an empty bucket in one statement (an object committed meanwhile keeps it). */
  async deleteBucket(userId: number, packageId: number): Promise<'deleted' | 'notEmpty'> {
    // TypeORM answers a bare DELETE with [rows, count]; a CTE makes it a plain SELECT.
    const [{ n }] = await this.ds.query(
      `WITH d AS (DELETE FROM packages p WHERE p.user_id = $1 AND p.package_id = $2
         AND NOT EXISTS (SELECT 1 FROM objects o WHERE o.user_id = $1 AND o.package_id = $2) RETURNING 1)
       SELECT count(*)::int AS n FROM d`,
      [userId, packageId],
    );
    return n > 0 ? 'deleted' : 'notEmpty';
  }

  async isEmpty(userId: number, packageId: number): Promise<boolean> {
    return (await this.ds.query('SELECT 1 FROM objects WHERE user_id = $1 AND package_id = $2 LIMIT 1', [userId, packageId])).length === 0;
  }

  async head(userId: number, packageId: number, key: string): Promise<S3Object | null> {
    const [row] = await this.sql.rows(HEAD_BY_KEY, [userId, packageId, key]);
    return row ? s3ObjectFromRow(row) : null;
  }

  /** The object, its blocks and their spaces in one statement (one version), for ObjectReader.prepare. */
  async forRead(userId: number, packageId: number, key: string): Promise<S3ObjectForRead | null> {
    const [row] = await this.sql.rows(READ_BY_KEY, [userId, packageId, key]);
    if (!row) return null;
    // The reader's own row shape (block health, granule sums): the same verification as /v1 reads.
    const { object: entity, blocks, spaces } = forReadFromRow(row);
    return { object: s3ObjectFromRow(row), entity, blocks, spaces };
  }

  /** PutObject: the bytes through ObjectsService.putOne, the ETag (MD5) and metadata in the commit's transaction. */
  async put(
    userId: number,
    packageId: number,
    key: string,
    body: import('node:stream').Readable,
    meta: S3Meta,
    verify?: (staged: StagedShard) => void | Promise<void>,
  ): Promise<S3Object> {
    let etag = '';
    const o = await this.objects.putOne(userId, packageId, key, body, {
      verify,
      afterCommit: async (em, object, staged) => {
        etag = staged.md5!.toString('hex');
        await setS3Meta(em, object.objectId, etag, meta);
      },
    });
    return { ...toS3Object(o, etag, meta) };
  }

  /** Deletes keys (missing ones are no error), one statement. */
  async deleteKeys(userId: number, packageId: number, keys: string[]): Promise<void> {
    if (keys.length === 0) return;
    await runTransaction(this.ds, 'bucket not found', async (em) => {
      const rows: Array<{ object_id: string }> = await em.query(
        `SELECT object_id FROM objects WHERE user_id = $1 AND package_id = $2 AND path = ANY($3::text[])
         ORDER BY path COLLATE "C" FOR UPDATE`,
        [userId, packageId, keys],
      );
      if (rows.length) await em.query('DELETE FROM objects WHERE object_id = ANY($1::bigint[])', [rows.map((r) => r.object_id)]);
    });
  }

  /**
   * CopyObject: the target shares the source's blocks (no byte is copied) in one transaction; `check`
   * sees the source first (copy-source conditions) and may throw. `meta` null keeps the source's
   * metadata (directive COPY). Null when the source is missing.
   */
  async copy(
    userId: number,
    src: { packageId: number; key: string },
    dst: { packageId: number; key: string },
    meta: S3Meta | null,
    check: (source: S3Object) => void,
  ): Promise<S3Object | null> {
    assertS3Key(dst.key);
    return runTransaction(this.ds, 'bucket not found', async (em) => {
      const found = await this.forReadIn(em, userId, src.packageId, src.key);
      if (!found) return null;
      check(found.object);
      const source = found.object;
      const [o] = await this.objects.commitObjects(em, userId, dst.packageId, [
        {
          path: dst.key,
          size: source.size,
          fileHash: source.fileHash,
          redundancy: source.redundancy,
          blocks: found.blocks.map((b) => ({
            index: b.index,
            userSpaceId: b.userSpaceId,
            fileHash: b.fileHash,
            size: b.size,
            state: b.state,
            granuleSize: b.granuleSize,
            granuleSums: b.granuleSums,
          })),
        },
      ]);
      const etag = source.etag.slice(1, -1);
      const kept = meta ?? source.meta;
      await setS3Meta(em, o!.objectId, etag, kept);
      return toS3Object(o!, etag, kept);
    }).catch((e: unknown) => {
      if (e instanceof ShardGoneError) return null; // the source was deleted while we copied
      throw e;
    });
  }

  /**
   * The source of a copy, held FOR SHARE until the copy commits, with its whole block map (health and
   * granule sums: the copy's blocks are the source's, as /v1 clone carries them). Locked by a statement
   * of its own: with `FOR SHARE` on a statement that also reads the blocks in subqueries, a row updated
   * while it waited is rechecked at its newest version while the subqueries keep the older snapshot (a
   * copy got one version's size and metadata with another's blocks). The block read after it is a new
   * snapshot (READ COMMITTED) of the locked version, which nobody can change now.
   */
  private async forReadIn(em: EntityManager, userId: number, packageId: number, key: string) {
    const [row] = await em.query(
      `SELECT ${OBJECT_COLUMNS} FROM objects o
       WHERE o.user_id = $1 AND o.package_id = $2 AND o.path = $3 AND o.redundancy->>'type' <> 'multipartUpload' FOR SHARE`,
      [userId, packageId, key],
    );
    if (!row) return null;
    const { object: entity, blocks } = await this.objects.getWithBlocks(userId, Number(row.object_id), em);
    return { object: s3ObjectFromRow(row), entity, blocks };
  }

  /**
   * A page of a listing with any delimiter, in one statement: a skip scan like ObjectListing's, where
   * each step is one index probe for the next key past the previous entry (past the whole common
   * prefix: the first key at or after `cp || U+10FFFF` that does not start with cp). `limit` entries
   * at most (objects and common prefixes together), in key order.
   */
  async list(
    userId: number,
    packageId: number,
    q: { prefix: string; delimiter: string; cursor: S3ListCursor; limit: number },
  ): Promise<S3ListEntry[]> {
    if (q.limit <= 0) return [];
    const after = q.cursor && 'after' in q.cursor ? q.cursor.after : null;
    const skip = q.cursor && 'skip' in q.cursor ? q.cursor.skip : null;
    const params = [userId, packageId, q.prefix, after, q.limit, skip, q.delimiter];
    const base = `o.user_id = $1 AND o.package_id = $2 AND starts_with(o.path, $3) AND o.redundancy->>'type' <> 'multipartUpload'`;
    // Past a common prefix cp: every key starting with cp sorts before cp || U+10FFFF, or starts with it.
    const past = (cp: string) =>
      `(SELECT o.path FROM objects o WHERE ${base} AND o.path >= ${cp} || chr(1114111) AND NOT starts_with(o.path, ${cp}) ORDER BY o.path LIMIT 1)`;
    const next = (col: string) => `(SELECT o.path FROM objects o WHERE ${base} AND o.path > ${col} ORDER BY o.path LIMIT 1)`;
    const first = `CASE WHEN $6::text IS NOT NULL THEN ${past('$6::text')}
                        WHEN $4::text IS NOT NULL THEN ${next('$4::text')}
                        ELSE (SELECT o.path FROM objects o WHERE ${base} AND o.path >= $3 ORDER BY o.path LIMIT 1) END`;
    // The common prefix of a key (through the first delimiter after the prefix), or NULL.
    const cpOf = (col: string) =>
      `CASE WHEN $7::text <> '' AND strpos(substr(${col}, char_length($3) + 1), $7::text) > 0
            THEN left(${col}, char_length($3) + strpos(substr(${col}, char_length($3) + 1), $7::text) - 1 + char_length($7::text)) END`;
    const rows = await this.ds.query(
      `WITH RECURSIVE walk(path, cp, n) AS (
         SELECT f.path, ${cpOf('f.path')}, 1 FROM (SELECT ${first} AS path) f
         UNION ALL
         SELECT x.path, ${cpOf('x.path')}, w.n + 1 FROM walk w
         CROSS JOIN LATERAL (SELECT CASE WHEN w.cp IS NOT NULL THEN ${past('w.cp')} ELSE ${next('w.path')} END AS path) x
         WHERE w.path IS NOT NULL AND w.n < $5)
       SELECT w.path AS entry, w.cp AS common_prefix, ${OBJECT_COLUMNS} FROM walk w
       LEFT JOIN objects o ON o.user_id = $1 AND o.package_id = $2 AND o.path = w.path AND w.cp IS NULL
       WHERE w.path IS NOT NULL ORDER BY w.n`,
      params,
    );
    return rows.map((r: Record<string, unknown>) =>
      r.common_prefix !== null ? { prefix: r.common_prefix as string } : { key: r.entry as string, object: s3ObjectFromRow(r) },
    );
  }
}

async function setS3Meta(em: EntityManager, objectId: number, etag: string, meta: S3Meta): Promise<void> {
  await em.query('UPDATE objects SET etag = $2, s3_meta = $3 WHERE object_id = $1', [objectId, etag, JSON.stringify(meta)]);
}

function toS3Object(o: ObjectEntity, etag: string, meta: S3Meta): S3Object {
  return {
    objectId: o.objectId,
    packageId: o.packageId,
    key: o.path,
    size: o.size,
    fileHash: o.fileHash,
    redundancy: o.redundancy,
    etag: `"${etag}"`,
    lastModified: o.updateTime,
    meta,
  };
}

/** Objects without a stored MD5 (written through /v1) answer their SHA-256 (64 hex: no client takes it for an MD5). */
export function s3EtagOf(fileHash: string, stored: string | null): string {
  if (stored) return `"${stored}"`;
  if (/^Full[0-9A-F]{64}$/.test(fileHash)) return `"${fileHash.slice(4).toLowerCase()}"`;
  return `"${createHash('sha256').update(fileHash).digest('hex')}"`;
}

function s3ObjectFromRow(r: Record<string, any>): S3Object {
  const o = objectFromRow(r);
  return toS3Object(o, s3EtagOf(o.fileHash, r.etag ?? null).slice(1, -1), (r.s3_meta as S3Meta | null) ?? {});
}
