import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, type EntityManager } from 'typeorm';
import { APP_CONFIG, type AppConfig } from '#config';
import type { Readable } from 'node:stream';
import { DomainError, assertValidObjectPath, badArgument, notFound, operationFailed } from '#common';
import { ObjectBlockEntity, ObjectEntity, type BlockState, pgCode, runnerOf, sqlOf, userSpaceFromRow, type Sql, type SqlRunner, type UserSpaceEntity } from '#db';
import { asParentGone, runTransaction } from '#packages';
import { compareKeys } from '#storage';
import { ShardGoneError, ShardRegistry, sortedShardKeys, type StagedShard } from '#shard-store';
import { SpaceDrivers, SpacesService } from '#user-spaces';
import { GranuleSummer, RedundancyJobs, parsePolicy, resolvePolicy, samePolicy, type RedundancyPolicy, type StoredPolicy } from '#redundancy';
import { BlockWriter, type BlockTargets, type WrittenObject } from './block-writer.js';
import { objectFromRow, toObjectView, type ObjectView } from './object-view.js';
import type { ReadBlock } from './object-reader.js';
import { COMMIT_OBJECTS, LIST_EXACT, PACKAGE_EXISTS, READ_BY_ID, READ_BY_PATH, SHARD_GONE } from './statements.js';
import { pathFromFilename, readUploadForm, type UploadRequest } from './upload-form.js';
import { assertS3Key } from './s3-key.js';

interface UploadInfo {
  packageId: number;
  userSpaceId: number;
  store: ReturnType<SpaceDrivers['shardStoreFor']>;
  policy: RedundancyPolicy;
  /** Set when the stored policy is not `none`: the BlockWriter writes the files. */
  blockTargets?: BlockTargets;
}

/** A file of an upload, staged: one shard (`none`) or the BlockWriter's blocks. */
interface StagedFile {
  path: string;
  shard?: StagedShard;
  granuleSums?: Buffer;
  written?: WrittenObject;
}

/** An object to commit (create or overwrite) with its blocks. */
export interface NewObject {
  path: string;
  size: number;
  fileHash: string;
  redundancy: ObjectEntity['redundancy'];
  blocks: NewBlock[];
}

/** A block to attach to an object: block `index` is shard `fileHash` in space `userSpaceId`. */
export interface NewBlock {
  index: number;
  userSpaceId: number;
  fileHash: string;
  size: number;
  /** Default 'ok'. A block not 'ok' (never written, lost or damaged) holds no shard. */
  state?: BlockState;
  granuleSize?: number | null;
  granuleSums?: Buffer | null;
}

/** What a download needs: the object, its blocks and the user spaces holding them, of one snapshot. */
export interface ObjectForRead {
  object: ObjectEntity;
  blocks: ObjectBlockEntity[];
  spaces: Map<number, UserSpaceEntity>;
}

/** Files of one upload whose temp files may be flushing to disk at once. */
const MAX_FLUSHING = 8;

/** Objects of one tenant (spec §5 minus multipart and downloads). Every query carries the userId. */
@Injectable()
export class ObjectsService {
  /** The hot routes' statements go straight to the pool (see #db's Sql); the rest use TypeORM. */
  private readonly sql: Sql;

  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly spaces: SpacesService,
    private readonly drivers: SpaceDrivers,
    private readonly shards: ShardRegistry,
    private readonly writer: BlockWriter,
    private readonly jobs: RedundancyJobs,
  ) {
    this.sql = sqlOf(ds);
    // Validated at start-up: a bad default policy fails the boot with parsePolicy's message.
    this.defaultPolicy = parsePolicy(JSON.parse(config.JCS_DEFAULT_REDUNDANCY), 'JCS_DEFAULT_REDUNDANCY');
  }

  readonly defaultPolicy: RedundancyPolicy;

  /**
   * `POST /v1/object/upload`: streams every file part into the shard store, then commits all objects
   * in one transaction (the batch is atomic; an existing path is overwritten in place). The policy is
   * info.redundancy, else the package's, else JCS_DEFAULT_REDUNDANCY; `none` keeps the one-space hot
   * path, any other goes through the BlockWriter (placement, encoding, quorum).
   */
  async upload(userId: number, req: UploadRequest): Promise<ObjectView[]> {
    const seen = new Set<string>();
    // One promise per file part, in part order. A part's temp file is flushed while the next part
    // streams in: waiting for each flush before reading on would serialise the disk's sync latency
    // over every file of the request. At most MAX_FLUSHING flushes run at once.
    const stages: Array<Promise<StagedFile>> = [];
    const flushing = new Set<Promise<void>>();
    let stageFailure: unknown;
    let target: UploadInfo | undefined;
    let formFailure: unknown;
    const discard = (f: StagedFile) => (f.written ? this.writer.discard(f.written.staged) : target?.store.discard([f.shard!]));
    try {
      await readUploadForm<UploadInfo, { stage: Promise<StagedFile> }>(req, {
        maxFiles: this.config.JCS_MAX_FILES_PER_UPLOAD,
        onInfo: async (parsed) => {
          const packageId = requireId(parsed.packageID, 'info.packageID');
          const affinity = parsed.affinity === undefined || parsed.affinity === null ? undefined : requireId(parsed.affinity, 'info.affinity');
          const asked = parsed.redundancy === undefined || parsed.redundancy === null ? undefined : parsePolicy(parsed.redundancy, 'info.redundancy');
          const { space, packageRedundancy } = await this.spaces.uploadTargetOfPackage(userId, affinity, packageId);
          const policy = asked ?? this.packagePolicy(packageRedundancy);
          // `auto` with sizes unknown while streaming: the request's Content-Length bounds every file,
          // so below the threshold the small policy is exact; at or above it the large one is used
          // and files that turn out small are converted after the commit.
          const length = Number(req.request.headers['content-length'] ?? 0) || 0;
          const stored = resolvePolicy(policy, length);
          const blockTargets = stored.type === 'none' ? undefined : await this.writer.targets(userId, stored, affinity);
          target = { packageId, userSpaceId: space.userSpaceId, store: this.drivers.shardStoreFor(space), policy, blockTargets };
          return target;
        },
        onFile: async (inf, part) => {
          if (stageFailure) throw stageFailure;
          const path = assertValidObjectPath(pathFromFilename(part.filename));
          if (seen.has(path)) throw badArgument(`path ${JSON.stringify(path)} appears twice in one upload`);
          seen.add(path);
          if (inf.blockTargets) {
            // Each file's blocks are written in parallel to their spaces; files one after the other.
            const stage = this.writer.write(part.stream, inf.blockTargets).then((written) => ({ path, written }));
            stages.push(stage);
            await stage.catch((e) => void (stageFailure ??= e));
            return { stage };
          }
          const read = new Promise<void>((resolve) => part.stream.once('end', resolve).once('close', resolve));
          const summer = new GranuleSummer(this.config.JCS_GRANULE_BYTES);
          const stage = inf.store
            .stage(part.stream, { maxSize: this.config.JCS_MAX_OBJECT_SIZE, onChunk: (c) => summer.update(c) })
            .then((shard) => ({ path, shard, granuleSums: summer.finish() }));
          stages.push(stage);
          const settled = stage.then(
            () => undefined,
            (e) => void (stageFailure ??= e),
          );
          flushing.add(settled);
          void settled.then(() => flushing.delete(settled));
          await Promise.race([read, stage]); // the part is read (or its write failed)
          if (flushing.size >= MAX_FLUSHING) await Promise.race(flushing);
          return { stage };
        },
        // multer's clean-up of a failed form; the collection of every stage below is the backstop.
        onDiscard: ({ stage }) => stage.then(discard, () => undefined),
      });
    } catch (e) {
      formFailure = e;
    }
    const results = await Promise.allSettled(stages);
    const staged = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const failure = formFailure ?? stageFailure;
    if (failure) {
      await Promise.all(staged.map(discard));
      throw failure;
    }
    if (!target || staged.length === 0) return [];
    const info = target;
    // All shards of the request are recorded in one statement and published together, then all
    // objects are committed in one transaction: the batch is atomic.
    let objects: NewObject[];
    if (info.blockTargets) {
      await this.writer.publish(staged.flatMap((s) => s.written!.staged));
      objects = staged.map(({ path, written }) => ({ path, size: written!.size, fileHash: written!.fileHash, redundancy: written!.redundancy, blocks: written!.blocks }));
    } else {
      await info.store.publish(
        staged.map((s) => s.shard!),
        (shards) => this.shards.touch(info.userSpaceId, shards),
      );
      objects = staged.map(({ path, shard, granuleSums }) => ({
        path,
        size: shard!.size,
        fileHash: shard!.fileHash,
        redundancy: { type: 'none' as const },
        blocks: [
          { index: 0, userSpaceId: info.userSpaceId, fileHash: shard!.fileHash, size: shard!.size, granuleSize: this.config.JCS_GRANULE_BYTES, granuleSums },
        ],
      }));
    }
    // One statement (autocommit): the commit is one round trip.
    const parentGone = `package ${info.packageId} not found`;
    const committed = await this.sql
      .retrying((runner) => this.commitWith(runner, userId, info.packageId, objects), (e) => asParentGone(e, parentGone))
      .catch((e: unknown) => {
        // Only when the commit came later than JCS_GC_GRACE_SECONDS + JCS_GC_READ_GRACE_SECONDS after the touch.
        if (e instanceof ShardGoneError) throw operationFailed('the upload took too long to commit and its data was collected; upload it again', 503);
        throw e;
      });
    await this.afterCommit(userId, info.policy, committed, staged.map((s) => s.written?.degraded ?? false));
    return committed.map(toObjectView);
  }

  /** The policy of a package from its stored JSON (null: the gateway's default). */
  packagePolicy(stored: unknown): RedundancyPolicy {
    return stored === null || stored === undefined ? this.defaultPolicy : parsePolicy(stored, 'package redundancy');
  }

  /**
   * Queues the background work a commit leaves: a repair for objects committed with missing blocks,
   * a conversion for objects on the wrong side of an `auto` threshold. Best effort: the worker's
   * sweep finds both again from PostgreSQL.
   */
  private async afterCommit(userId: number, policy: RedundancyPolicy, objects: ObjectEntity[], degraded: boolean[]): Promise<void> {
    await Promise.all(
      objects.map(async (o, i) => {
        if (degraded[i]) await this.jobs.queueRepair(userId, o.objectId);
        const want = resolvePolicy(policy, o.size);
        const got = o.redundancy as StoredPolicy;
        if (o.size > 0 && !samePolicy(want, got) && !(want.type === 'rep' && got.type === 'rep')) await this.jobs.queueConvert(userId, { objectId: o.objectId });
      }),
    );
  }

  /**
   * The S3 write (PutObject): one object from one body through the same staging, publish and commit
   * as `upload`, with the S3 key rule instead of /v1's path rule (assertS3Key) and the MD5 computed in
   * the staging pass. `verify` sees the staged shard before anything is published (digests the client
   * sent: a refusal discards it, nothing is committed); `afterCommit` runs in the commit's transaction
   * (the S3 metadata of this version).
   */
  async putOne(
    userId: number,
    packageId: number,
    path: string,
    body: Readable,
    opts: {
      verify?: (staged: StagedShard) => void | Promise<void>;
      afterCommit?: (em: EntityManager, object: ObjectEntity, staged: StagedShard) => Promise<void>;
    } = {},
  ): Promise<ObjectEntity> {
    assertS3Key(path);
    const { space, packageRedundancy } = await this.spaces.uploadTargetOfPackage(userId, undefined, packageId);
    const store = this.drivers.shardStoreFor(space);
    const summer = new GranuleSummer(this.config.JCS_GRANULE_BYTES);
    const staged = await store.stage(body, { maxSize: this.config.JCS_MAX_OBJECT_SIZE, md5: true, onChunk: (c) => summer.update(c) });
    const granuleSums = summer.finish();
    try {
      await opts.verify?.(staged);
    } catch (e) {
      await store.discard([staged]);
      throw e;
    }
    await store.publish([staged], (shards) => this.shards.touch(space.userSpaceId, shards));
    const object: NewObject = {
      path,
      size: staged.size,
      fileHash: staged.fileHash,
      redundancy: { type: 'none' },
      blocks: [
        { index: 0, userSpaceId: space.userSpaceId, fileHash: staged.fileHash, size: staged.size, granuleSize: this.config.JCS_GRANULE_BYTES, granuleSums },
      ],
    };
    const committed = await runTransaction(this.ds, `package ${packageId} not found`, async (em) => {
      const [o] = await this.commitObjects(em, userId, packageId, [object]);
      await opts.afterCommit?.(em, o!, staged);
      return o!;
    }).catch((e: unknown) => {
      if (e instanceof ShardGoneError) throw operationFailed('the upload took too long to commit and its data was collected; upload it again', 503);
      throw e;
    });
    // S3 writes land as one copy (the MD5 and the clients' checksums are taken in the same staging
    // pass) and are converted to the package's policy in the background, as JCS-pub converts its
    // uploads; the sweep finds them again if the job is lost.
    await this.afterCommit(userId, this.packagePolicy(packageRedundancy), [committed], [false]);
    return committed;
  }

  /**
   * Creates or overwrites (in place: same objectID and createTime) the objects at the given paths of a
   * package, replacing their blocks. Returns them in input order. Runs inside the caller's transaction.
   */
  commitObjects(em: EntityManager, userId: number, packageId: number, objects: NewObject[]): Promise<ObjectEntity[]> {
    return this.commitWith(runnerOf(em), userId, packageId, objects);
  }

  /**
   * `commitObjects` on any runner, in one statement (jcs_commit_objects): the package held FOR SHARE,
   * the objects upserted, their blocks replaced under ShardRegistry.reference's protocol (shards KEY
   * SHARE locked in sortedShardKeys order, doomed marks cleared; ShardGoneError when one is collected
   * or being deleted, and then nothing is written).
   */
  async commitWith(tx: SqlRunner, userId: number, packageId: number, objects: NewObject[]): Promise<ObjectEntity[]> {
    const input = objects;
    // Rows are locked in path byte order (COLLATE "C"), the order every writer of several objects
    // uses, so two batches of the same paths in opposite orders queue instead of deadlocking.
    objects = [...objects].sort((x, y) => compareKeys(x.path, y.path));
    const blocks = objects.flatMap((o) => o.blocks.map((b) => ({ ...b, path: o.path })));
    // Only blocks that were written hold their shard; a missing one has no shard row yet.
    const keys = sortedShardKeys(blocks.filter((b) => (b.state ?? 'ok') === 'ok').map((b) => ({ userSpaceId: b.userSpaceId, fileHash: b.fileHash })));
    const rows = await tx
      .rows(COMMIT_OBJECTS, [
        userId,
        packageId,
        objects.map((o) => o.path),
        objects.map((o) => o.size),
        objects.map((o) => o.fileHash),
        objects.map((o) => JSON.stringify(o.redundancy)),
        keys.map((k) => k.userSpaceId),
        keys.map((k) => k.fileHash),
        blocks.map((b) => b.path),
        blocks.map((b) => b.index),
        blocks.map((b) => b.userSpaceId),
        blocks.map((b) => b.fileHash),
        blocks.map((b) => b.size),
        blocks.map((b) => b.state ?? 'ok'),
        blocks.map((b) => b.granuleSize ?? null),
        blocks.map((b) => b.granuleSums ?? null),
      ])
      .catch((e: unknown) => {
        if (pgCode(e) !== SHARD_GONE) throw e;
        const detail = String((e as { detail?: string; driverError?: { detail?: string } }).driverError?.detail ?? (e as { detail?: string }).detail);
        const slash = detail.indexOf('/');
        throw new ShardGoneError({ userSpaceId: Number(detail.slice(0, slash)), fileHash: detail.slice(slash + 1) });
      });
    if (rows.length === 0) throw notFound(`package ${packageId} not found`);
    const byPath = new Map(rows.map((r) => [r.path as string, objectFromRow(r)]));
    return input.map((o) => byPath.get(o.path)!);
  }

  /**
   * Inserts block rows; first holds their shards against the collector (ShardRegistry.reference).
   * Throws ShardGoneError when a shard has been collected meanwhile.
   */
  async insertBlocks(em: EntityManager, blocks: Array<NewBlock & { objectId: number }>): Promise<void> {
    if (blocks.length === 0) return;
    const good = blocks.filter((b) => (b.state ?? 'ok') === 'ok');
    if (good.length) await this.shards.reference(em, good);
    await em.query(
      `INSERT INTO object_blocks (object_id, index, user_space_id, file_hash, size, state, granule_size, granule_sums)
       SELECT * FROM unnest($1::bigint[], $2::int[], $3::bigint[], $4::text[], $5::bigint[], $6::text[], $7::int[], $8::bytea[])`,
      [
        blocks.map((b) => b.objectId),
        blocks.map((b) => b.index),
        blocks.map((b) => b.userSpaceId),
        blocks.map((b) => b.fileHash),
        blocks.map((b) => b.size),
        blocks.map((b) => b.state ?? 'ok'),
        blocks.map((b) => b.granuleSize ?? null),
        blocks.map((b) => b.granuleSums ?? null),
      ],
    );
  }

  async get(userId: number, objectId: number, em: EntityManager = this.ds.manager): Promise<ObjectEntity> {
    const o = await em.findOne(ObjectEntity, { where: { userId, objectId } });
    if (!o) throw notFound(`object ${objectId} not found`);
    return o;
  }

  async getByPath(userId: number, packageId: number, path: string): Promise<ObjectEntity> {
    assertValidObjectPath(path);
    const o = await this.ds.getRepository(ObjectEntity).findOne({ where: { userId, packageId, path } });
    if (!o) {
      await this.requirePackage(userId, packageId);
      throw notFound(`object ${JSON.stringify(path)} not found in package ${packageId}`);
    }
    return o;
  }

  /**
   * The object and its blocks read in ONE statement (one snapshot), so the headers and the bytes of
   * a download are of the same version even while an overwrite commits.
   */
  async getWithBlocks(userId: number, objectId: number, em: EntityManager = this.ds.manager): Promise<{ object: ObjectEntity; blocks: ObjectBlockEntity[] }> {
    const rows = await em.query(`${WITH_BLOCKS} WHERE o.user_id = $1 AND o.object_id = $2 GROUP BY o.object_id`, [userId, objectId]);
    if (rows.length === 0) throw notFound(`object ${objectId} not found`);
    return withBlocksFromRow(rows[0]);
  }

  /** `download`: the object, its blocks and their spaces in one statement (as `getWithBlocks`, plus the spaces). */
  async getForRead(userId: number, objectId: number): Promise<ObjectForRead> {
    const [row] = await this.sql.rows(READ_BY_ID, [userId, objectId]);
    if (!row) throw notFound(`object ${objectId} not found`);
    return forReadFromRow(row);
  }

  /** `downloadByPath`: `getForRead` by package and path; the package check is in the same statement. */
  async getByPathForRead(userId: number, packageId: number, path: string): Promise<ObjectForRead> {
    assertValidObjectPath(path);
    const [row] = await this.sql.rows(READ_BY_PATH, [userId, packageId, path]);
    if (!row!.package_found) throw notFound(`package ${packageId} not found`);
    if (row!.object_id === null) throw notFound(`object ${JSON.stringify(path)} not found in package ${packageId}`);
    return forReadFromRow(row!);
  }

  /**
   * Exact `listByPath`: the object at `path` (or none) and the package check in one statement. A
   * missing or foreign package is DataNotFound, as `requirePackage`.
   */
  async findExact(userId: number, packageId: number, path: string): Promise<ObjectEntity | null> {
    const [row] = await this.sql.rows(LIST_EXACT, [userId, packageId, path]);
    if (!row!.package_found) throw notFound(`package ${packageId} not found`);
    return row!.object_id === null ? null : objectFromRow(row!);
  }

  /**
   * A page of a package's objects in path order (after `after`, at most `limit`), each with its blocks,
   * in one statement: one consistent version per object, as `getWithBlocks`, for a whole page.
   */
  async pageWithBlocks(
    userId: number,
    packageId: number,
    after: string | null,
    limit: number,
  ): Promise<Array<{ object: ObjectEntity; blocks: ObjectBlockEntity[] }>> {
    const rows = await this.ds.query(
      `${WITH_BLOCKS} WHERE o.user_id = $1 AND o.package_id = $2 AND ($3::text IS NULL OR o.path > $3)
       GROUP BY o.object_id ORDER BY o.path LIMIT $4`,
      [userId, packageId, after, limit],
    );
    return rows.map(withBlocksFromRow);
  }

  /** An object's blocks alone. To read an object, use `getWithBlocks` (one snapshot for both). */
  async blocksOf(objectId: number): Promise<ObjectBlockEntity[]> {
    return this.ds.getRepository(ObjectBlockEntity).find({ where: { objectId }, order: { index: 'ASC', userSpaceId: 'ASC' } });
  }

  async getPackageObjects(userId: number, packageId: number): Promise<ObjectView[]> {
    await this.requirePackage(userId, packageId);
    const all = await this.ds.getRepository(ObjectEntity).find({ where: { userId, packageId }, order: { path: 'ASC' } });
    return all.map(toObjectView);
  }

  /** `move`: skips (not an error) a missing object, a foreign target package or an occupied path. */
  async move(userId: number, movings: Array<{ objectID: number; packageID: number; path: string }>): Promise<number[]> {
    movings.forEach((m) => assertValidObjectPath(m.path));
    const successes: number[] = [];
    for (const m of movings) {
      const moved = await runTransaction(this.ds, `package ${m.packageID} not found`, async (em) => {
        const target = await em.query('SELECT 1 FROM packages WHERE user_id = $1 AND package_id = $2 FOR SHARE', [userId, m.packageID]);
        if (target.length === 0) return false;
        // TypeORM returns UPDATE results in a driver-specific shape; a CTE makes it a plain SELECT.
        const [{ n }] = await em
          .query(
            `WITH u AS (
               UPDATE objects SET package_id = $3, path = $4, update_time = now()
               WHERE user_id = $1 AND object_id = $2
                 AND NOT EXISTS (SELECT 1 FROM objects o2 WHERE o2.package_id = $3 AND o2.path = $4 AND o2.object_id <> $2)
               RETURNING 1)
             SELECT count(*)::int AS n FROM u`,
            [userId, m.objectID, m.packageID, m.path],
          )
          .catch((e: { code?: string }) => {
            if (e.code === '23505') return [{ n: 0 }]; // the path was taken concurrently
            throw e;
          });
        return n > 0;
      });
      if (moved) successes.push(m.objectID);
    }
    return successes;
  }

  /** `delete`: missing (or foreign) IDs are not an error. Shards are left to the collector. */
  async delete(userId: number, objectIds: number[]): Promise<void> {
    if (objectIds.length === 0) return;
    // Locks the rows in the order batch uploads lock them (package, then path bytes): no deadlock.
    await runTransaction(this.ds, 'object not found', async (em) => {
      const rows: Array<{ object_id: string }> = await em.query(
        `SELECT object_id FROM objects WHERE user_id = $1 AND object_id = ANY($2::bigint[])
         ORDER BY package_id, path COLLATE "C" FOR UPDATE`,
        [userId, objectIds],
      );
      if (rows.length) await em.query('DELETE FROM objects WHERE object_id = ANY($1::bigint[])', [rows.map((r) => r.object_id)]);
    });
  }

  /**
   * `clone`: a new object sharing the source's shards (no bytes copied); null where skipped (missing
   * source, occupied target path, foreign package).
   */
  async clone(userId: number, clonings: Array<{ objectID: number; newPath: string; newPackageID: number }>): Promise<Array<ObjectView | null>> {
    clonings.forEach((c) => assertValidObjectPath(c.newPath));
    const out: Array<ObjectView | null> = [];
    for (const c of clonings) {
      out.push(
        await runTransaction(this.ds, `package ${c.newPackageID} not found`, async (em) => {
          // The source and its blocks in one statement: a concurrent overwrite cannot mix versions.
          const found = await this.getWithBlocks(userId, c.objectID, em).catch((e: unknown) => {
            if (e instanceof DomainError && e.code === 'DataNotFound') return null;
            throw e;
          });
          if (!found || found.object.redundancy.type === 'multipartUpload') return null;
          const { object: src, blocks } = found;
          const pkg = await em.query('SELECT 1 FROM packages WHERE user_id = $1 AND package_id = $2 FOR SHARE', [userId, c.newPackageID]);
          if (pkg.length === 0) return null;
          const inserted: Record<string, unknown>[] = await em.query(
            `INSERT INTO objects (user_id, package_id, path, size, file_hash, redundancy, create_time, update_time)
             VALUES ($1, $2, $3, $4, $5, $6, now(), now()) ON CONFLICT (package_id, path) DO NOTHING RETURNING *`,
            [userId, c.newPackageID, c.newPath, src.size, src.fileHash, JSON.stringify(src.redundancy)],
          );
          if (inserted.length === 0) return null;
          const obj = objectFromRow(inserted[0]!);
          // The source may have been deleted since, its shards doomed: insertBlocks holds them (or
          // throws ShardGoneError if already being collected: the source is gone).
          await this.insertBlocks(em, blocks.map((b) => ({ ...b, objectId: obj.objectId })));
          return toObjectView(obj);
        }).catch((e) => {
          if (e instanceof ShardGoneError) return null;
          throw e;
        }),
      );
    }
    return out;
  }

  async requirePackage(userId: number, packageId: number): Promise<void> {
    if ((await this.sql.rows(PACKAGE_EXISTS, [userId, packageId])).length === 0) throw notFound(`package ${packageId} not found`);
  }
}

const WITH_BLOCKS = `SELECT o.*, COALESCE(json_agg(json_build_object('index', b.index, 'userSpaceId', b.user_space_id,
    'fileHash', b.file_hash, 'size', b.size, 'state', b.state, 'checkedAt', b.checked_at, 'granuleSize', b.granule_size, 'hasSums', b.granule_sums IS NOT NULL,
    'granuleSums', encode(b.granule_sums, 'base64')) ORDER BY b.index, b.user_space_id) FILTER (WHERE b.object_id IS NOT NULL), '[]') AS blocks_json
  FROM objects o LEFT JOIN object_blocks b ON b.object_id = o.object_id`;

function withBlocksFromRow(row: Record<string, any>): { object: ObjectEntity; blocks: ObjectBlockEntity[] } {
  const object = objectFromRow(row);
  const blocks = (row.blocks_json as Array<Record<string, unknown>>).map((b) => ({
    objectId: object.objectId,
    index: Number(b.index),
    userSpaceId: Number(b.userSpaceId),
    fileHash: String(b.fileHash),
    size: Number(b.size),
    state: (b.state as BlockState | undefined) ?? 'ok',
    checkedAt: b.checkedAt ? new Date(String(b.checkedAt)) : null,
    granuleSize: b.granuleSize === null || b.granuleSize === undefined ? null : Number(b.granuleSize),
    granuleSums: typeof b.granuleSums === 'string' ? Buffer.from(b.granuleSums, 'base64') : null,
    // Sums too large to come with the row are fetched by the reader for the granules it needs.
    hasSums: b.hasSums === true || typeof b.granuleSums === 'string',
  })) as Array<ObjectBlockEntity & ReadBlock>;
  return { object, blocks };
}

export function forReadFromRow(row: Record<string, any>): ObjectForRead {
  const { object, blocks } = withBlocksFromRow(row);
  const spaces = new Map<number, UserSpaceEntity>();
  for (const r of row.spaces_json as Array<Record<string, unknown>>) {
    const s = userSpaceFromRow(r);
    spaces.set(s.userSpaceId, s);
  }
  return { object, blocks, spaces };
}

export function requireId(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) throw badArgument(`${what} must be a positive integer`);
  return v;
}

