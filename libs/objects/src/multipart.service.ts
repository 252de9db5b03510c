import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { createHash } from 'node:crypto';
import { DataSource } from 'typeorm';
import { APP_CONFIG, type AppConfig } from '#config';
import { DomainError, assertValidObjectPath, badArgument, notFound, operationFailed } from '#common';
import { MultipartPartEntity, ObjectEntity } from '#db';
import { EMPTY_FULL_HASH, ShardGoneError, ShardRegistry, compositeHash, digestOf, fullHash, type ShardStore, type StagedShard } from '#shard-store';
import { SpaceDrivers, SpacesService } from '#user-spaces';
import { runTransaction } from '#packages';
import { RedundancyJobs } from '#redundancy';
import { ObjectReader } from './object-reader.js';
import { ObjectsService, requireId } from './objects.service.js';
import { toObjectView, type ObjectView } from './object-view.js';
import { readUploadForm, type UploadRequest } from './upload-form.js';

const MAX_PART_INDEX = 2 ** 31 - 1;

/**
 * Multipart uploads (spec §5): the object exists from the start (redundancy `multipartUpload`), parts
 * are shards of their own, and completion references the listed parts' shards in order (redundancy
 * `segment`) — no byte is copied; the `Full` hash is computed by streaming through them once.
 */
@Injectable()
export class MultipartService {
  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly objects: ObjectsService,
    private readonly spaces: SpacesService,
    private readonly drivers: SpaceDrivers,
    private readonly shards: ShardRegistry,
    private readonly reader: ObjectReader,
    private readonly jobs: RedundancyJobs,
  ) {}

  /** Opens a multipart upload at `path` (an existing object there is replaced in place). */
  async create(userId: number, packageId: number, path: string): Promise<ObjectView> {
    assertValidObjectPath(path);
    const [obj] = await runTransaction(this.ds, `package ${packageId} not found`, (em) =>
      this.objects.commitObjects(em, userId, packageId, [
        { path, size: 0, fileHash: compositeHash([]), redundancy: { type: 'multipartUpload' }, blocks: [] },
      ]),
    );
    return toObjectView(obj!);
  }

  /** Stores one part (`info` = {objectID, index}, then `file`); the same index again replaces it. */
  async uploadPart(userId: number, req: UploadRequest): Promise<void> {
    type Info = { objectId: number; index: number; userSpaceId: number; store: ShardStore };
    let store: ShardStore | undefined;
    const { info, results } = await readUploadForm<Info, StagedShard>(req, {
      maxFiles: 1,
      onInfo: async (parsed) => {
        const objectId = requireId(parsed.objectID, 'info.objectID');
        const index = parsed.index;
        if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index > MAX_PART_INDEX)
          throw badArgument('info.index must be a non-negative integer');
        await this.requireOpen(userId, objectId);
        const space = await this.spaces.uploadTarget(userId);
        store = this.drivers.shardStoreFor(space);
        return { objectId, index, userSpaceId: space.userSpaceId, store };
      },
      // Staged only: the part is published once the whole form (and its signed hash) checked out.
      onFile: (inf, part) => inf.store.stage(part.stream, { maxSize: this.config.JCS_MAX_OBJECT_SIZE }),
      onDiscard: async (staged) => store?.discard([staged]),
    });
    const shard = results[0];
    if (!shard) throw badArgument('the form has no file part');
    await info.store.publish([shard], (shards) => this.shards.touch(info.userSpaceId, shards));
    await runTransaction(this.ds, `object ${info.objectId} not found`, async (em) => {
      await this.requireOpen(userId, info.objectId, true, em);
      const [{ n }] = await em.query('SELECT count(*)::int AS n FROM multipart_parts WHERE object_id = $1 AND part_index <> $2', [
        info.objectId,
        info.index,
      ]);
      if (n >= this.config.JCS_MAX_PARTS) throw badArgument(`a multipart upload has at most ${this.config.JCS_MAX_PARTS} parts`);
      // Holds the part's shard against the collector until the commit (and clears a doomed mark).
      await this.shards.reference(em, [{ userSpaceId: info.userSpaceId, fileHash: shard.fileHash }]).catch((e: unknown) => {
        if (e instanceof ShardGoneError) throw operationFailed('the part took too long to commit and its data was collected; upload it again', 503);
        throw e;
      });
      await em.query(
        `INSERT INTO multipart_parts (object_id, part_index, user_space_id, file_hash, size, create_time)
         VALUES ($1, $2, $3, $4, $5, now())
         ON CONFLICT (object_id, part_index) DO UPDATE
           SET user_space_id = EXCLUDED.user_space_id, file_hash = EXCLUDED.file_hash, size = EXCLUDED.size, create_time = now()`,
        [info.objectId, info.index, info.userSpaceId, shard.fileHash, shard.size],
      );
      // While open, the object's hash is the composite over its parts in index order.
      const parts = await em.find(MultipartPartEntity, { where: { objectId: info.objectId }, order: { partIndex: 'ASC' } });
      await em.update(ObjectEntity, { userId, objectId: info.objectId }, {
        fileHash: compositeHash(parts.map((p) => digestOf(p.fileHash))),
        updateTime: new Date(),
      });
    });
  }

  /**
   * Joins the listed parts in the order given (an index may repeat); unlisted parts are released.
   * `signal` (the client went away) stops the hashing and commits nothing.
   */
  async complete(userId: number, objectId: number, indexes: number[], signal?: AbortSignal): Promise<ObjectView> {
    if (indexes.length === 0) throw badArgument('indexes must not be empty');
    // Repeats make the list longer than the parts: bound it too, or one small request could ask for
    // millions of segments (a huge redundancy document, block rows and hashing work).
    if (indexes.length > this.config.JCS_MAX_PARTS) throw badArgument(`indexes may list at most ${this.config.JCS_MAX_PARTS} parts`);
    const object = await this.objects.get(userId, objectId);
    if (object.redundancy.type !== 'multipartUpload') throw operationFailed(`object ${objectId} is not a multipart upload`);
    const parts = new Map(
      (await this.ds.getRepository(MultipartPartEntity).find({ where: { objectId } })).map((p) => [p.partIndex, p]),
    );
    const chosen = indexes.map((i) => {
      const p = parts.get(i);
      if (!p) throw badArgument(`part ${i} has not been uploaded`);
      return p;
    });
    // Refused from the recorded sizes, before any byte is read. With this bound a completion reads at
    // most JCS_MAX_OBJECT_SIZE bytes, however often an index repeats: the cost of one download of the
    // result, paid only while the client stays connected (`signal`). So repeats need no tighter bound
    // than JCS_MAX_PARTS (which keeps the block rows and the redundancy document small).
    const size = chosen.reduce((s, p) => s + p.size, 0);
    if (size > this.config.JCS_MAX_OBJECT_SIZE) throw new DomainError('QuotaExceeded', `the joined object would exceed ${this.config.JCS_MAX_OBJECT_SIZE} bytes`, 413);
    const blocks = chosen.map((p, i) => ({ index: i, userSpaceId: p.userSpaceId, fileHash: p.fileHash, size: p.size }));
    const redundancy = { type: 'segment' as const, segments: chosen.map((p) => p.size) };

    // The Full hash of the joined bytes, streamed once through the part shards (no copy is written).
    const probe = { ...object, size, redundancy };
    const read = await this.reader.prepare(
      probe,
      blocks.map((b) => ({ ...b, objectId, state: 'ok' as const, checkedAt: null, granuleSize: null, granuleSums: null })),
      { start: 0, end: size - 1 },
    );
    const hash = createHash('sha256');
    throwIfGone(signal);
    const bytes = await read.open();
    const stop = () => bytes.destroy(clientGone());
    signal?.addEventListener('abort', stop, { once: true });
    try {
      for await (const chunk of bytes) hash.update(chunk as Buffer);
    } finally {
      signal?.removeEventListener('abort', stop);
      bytes.destroy();
    }
    const fileHash = size === 0 ? EMPTY_FULL_HASH : fullHash(hash.digest());

    const done = await runTransaction(this.ds, `object ${objectId} not found`, async (em) => {
      const locked = await this.requireOpen(userId, objectId, true, em);
      throwIfGone(signal); // the last moment to give up: under the row lock, before any write
      // A part replaced while we were hashing would make the hash wrong: check they are unchanged.
      const now = new Map((await em.find(MultipartPartEntity, { where: { objectId } })).map((p) => [p.partIndex, p.fileHash]));
      if (chosen.some((p) => now.get(p.partIndex) !== p.fileHash))
        throw operationFailed('a part was replaced while the upload was completing; complete it again');
      await em.query('DELETE FROM multipart_parts WHERE object_id = $1', [objectId]);
      await this.objects.insertBlocks(em, blocks.map((b) => ({ ...b, objectId })));
      await em.update(ObjectEntity, { userId, objectId }, { size, fileHash, redundancy, updateTime: new Date() });
      return { ...locked, size, fileHash, redundancy, updateTime: new Date() };
    });
    // Parts stay single copies while the upload is open; the worker converts the completed object to
    // its package's policy (a no-op for `none`).
    await this.jobs.queueConvert(userId, { objectId: done.objectId });
    return toObjectView(await this.objects.get(userId, done.objectId));
  }

  /** The object if it is the tenant's and an open multipart upload; `lock` takes its row lock. */
  private async requireOpen(userId: number, objectId: number, lock = false, em = this.ds.manager): Promise<ObjectEntity> {
    const o = await em.findOne(ObjectEntity, { where: { userId, objectId }, lock: lock ? { mode: 'pessimistic_write' } : undefined });
    if (!o) throw notFound(`object ${objectId} not found`);
    if (o.redundancy.type !== 'multipartUpload') throw operationFailed(`object ${objectId} is not a multipart upload`);
    return o;
  }
}

/** The error a completion ends with when its client went away (nobody reads the answer). */
const clientGone = () => badArgument('the client closed the connection before the completion ended');

function throwIfGone(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw clientGone();
}
