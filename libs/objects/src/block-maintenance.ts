import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DataSource } from 'typeorm';
import { APP_CONFIG, type AppConfig } from '#config';
import { pgCode, userSpaceFromRow, type ObjectEntity, type UserSpaceEntity } from '#db';
import {
  DEFAULT_GRANULE_SIZE,
  GranuleSummer,
  NotEnoughBlocks,
  RedundancyJobs,
  StripeLayout,
  codecFor,
  rebuildBlock,
  replicaRead,
  type BlockFault,
} from '#redundancy';
import { ShardGoneError, ShardRegistry, fullHash } from '#shard-store';
import { StorageKeyNotFoundError } from '#storage';
import { SpaceDrivers } from '#user-spaces';
import { ObjectReader, type ReadBlock } from './object-reader.js';
import { objectFromRow } from './object-view.js';

/** SQLSTATE of the space_usage triggers: the statement would take a space past its shardStore.maxSize. */
const NO_ROOM = 'JC002';

export interface RepairReport {
  repaired: number;
  /** Blocks that could not be rebuilt now (too few good blocks, nowhere to put them). */
  failed: number;
}

export interface ScrubReport {
  checked: number;
  damaged: number;
  bytes: number;
}

/**
 * Scrub and repair of the block map (issue 9 §6), run by the worker. PostgreSQL says what to do
 * (block states, checked_at), so both are idempotent and resume after a kill where they stopped.
 *
 * Repair rebuilds a missing or corrupt block (rep: a good copy; ec: from k good blocks, window by
 * window) onto a space with room, preferring one holding no block of the object, stages and publishes
 * it like an upload (the shard touched first, so the collector leaves it alone), checks that the
 * bytes hash to the block's fileHash, then swaps the row in one conditional UPDATE: only if the object
 * is unchanged and the row is still the damaged one. A full space (JC002) sends it to the next one.
 *
 * Scrub reads whole blocks, oldest check first, at a byte rate, checking the SHA-256 (fileHash) and
 * the granule sums (filling them in for blocks written before they existed); it records the state and
 * checked_at and queues a repair for what it found damaged.
 */
@Injectable()
export class BlockMaintenance {
  private readonly log = new Logger('BlockMaintenance');

  constructor(
    private readonly reader: ObjectReader,
    private readonly drivers: SpaceDrivers,
    private readonly registry: ShardRegistry,
    private readonly jobs: RedundancyJobs,
    @InjectDataSource() private readonly ds: DataSource,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async repair(userId: number, objectId: number): Promise<RepairReport> {
    const report: RepairReport = { repaired: 0, failed: 0 };
    const [row] = await this.ds.query('SELECT * FROM objects WHERE user_id = $1 AND object_id = $2', [userId, objectId]);
    if (!row) return report;
    const object = objectFromRow(row);
    const blocks = await this.blocksOf(objectId);
    const damaged = blocks.filter((b) => b.state !== 'ok');
    if (damaged.length === 0) return report;
    const spaces = await this.tenantSpaces(userId, blocks.map((b) => b.userSpaceId));
    const ctx = this.reader.maintenanceContext(object, spaces);
    const r = object.redundancy as { type: string; k?: number; n?: number; chunkSize?: number; repCount?: number };
    const good = blocks.filter((b) => b.state === 'ok');
    for (const b of damaged) {
      let bytes: (() => AsyncGenerator<Buffer>) | undefined;
      const onFault = (f: BlockFault) => {
        const helper = good.find((g) => g.index === f.index);
        if (helper) ctx.fault(helper, f);
      };
      if (r.type === 'rep') {
        const copies = good.filter((g) => g.size === b.size && g.fileHash === b.fileHash);
        if (copies.length) bytes = () => replicaRead(copies.map((c) => ctx.source(c)), 0, b.size - 1, onFault);
      } else if (r.type === 'ec') {
        const n = r.n!;
        const byIndex = new Map(good.map((g) => [g.index, g]));
        const sources = Array.from({ length: n }, (_, i) => (byIndex.has(i) ? ctx.source(byIndex.get(i)!) : undefined));
        const blockSize = new StripeLayout(object.size, r.k!, r.chunkSize!).blockSize;
        bytes = () => rebuildBlock({ k: r.k!, n, blocks: sources, codec: codecFor(r.k!, n), onFault }, b.index, blockSize);
      }
      if (!bytes) {
        this.log.warn({ objectId, index: b.index }, `a ${r.type} block has nothing to be rebuilt from`);
        report.failed++;
        continue;
      }
      if (await this.rebuildOnto(object, b, blocks, spaces, bytes)) report.repaired++;
      else report.failed++;
    }
    return report;
  }

  /** Rebuilds `b` onto the best space with room; true once the row was swapped (or someone else fixed it). */
  private async rebuildOnto(
    object: ObjectEntity,
    b: ReadBlock,
    blocks: ReadBlock[],
    spaces: Map<number, UserSpaceEntity>,
    bytes: () => AsyncGenerator<Buffer>,
  ): Promise<boolean> {
    const holding = new Set(blocks.filter((x) => x.state === 'ok').map((x) => x.userSpaceId));
    const candidates = (await this.spacesWithRoom(object.userId, b.size)).sort(
      (x, y) => rank(x.userSpaceId) - rank(y.userSpaceId) || x.userSpaceId - y.userSpaceId,
    );
    function rank(id: number): number {
      return !holding.has(id) && id !== b.userSpaceId ? 0 : id === b.userSpaceId ? 1 : 2;
    }
    for (const space of candidates) {
      spaces.set(space.userSpaceId, space);
      const store = this.drivers.shardStoreFor(space);
      const granuleSize = b.granuleSize ?? DEFAULT_GRANULE_SIZE;
      const summer = new GranuleSummer(granuleSize);
      let staged;
      try {
        staged = await store.stage(Readable.from(tapped(bytes(), summer), { objectMode: false }));
      } catch (e) {
        if (e instanceof NotEnoughBlocks) {
          this.log.error({ objectId: object.objectId, index: b.index, reason: e.message }, 'a block cannot be rebuilt: too few good blocks');
          return false;
        }
        this.log.warn({ objectId: object.objectId, index: b.index, userSpaceId: space.userSpaceId, err: (e as Error).message }, 'rebuilding a block failed here');
        continue;
      }
      if (staged.fileHash !== b.fileHash || staged.size !== b.size) {
        await store.discard([staged]);
        this.log.error({ objectId: object.objectId, index: b.index }, 'a rebuilt block does not hash to its recorded fileHash: not stored');
        return false;
      }
      try {
        await store.publish([staged], (u) => this.registry.touch(space.userSpaceId, u));
        const swapped = await this.ds.transaction(async (em) => {
          await this.registry.reference(em, [{ userSpaceId: space.userSpaceId, fileHash: b.fileHash }]);
          const rows = await em.query(SWAP, [
            object.userId,
            object.objectId,
            b.index,
            b.userSpaceId,
            b.fileHash,
            space.userSpaceId,
            granuleSize,
            summer.finish(),
            object.fileHash,
            JSON.stringify(object.redundancy),
          ]);
          // TypeORM answers an UPDATE … RETURNING with [rows, count].
          return (Array.isArray(rows[0]) ? rows[0] : rows).length > 0;
        });
        if (swapped) this.log.log({ objectId: object.objectId, index: b.index, userSpaceId: space.userSpaceId }, 'block repaired');
        // Not swapped: the object changed or the row was fixed meanwhile; the new shard is the collector's.
        return true;
      } catch (e) {
        if (pgCode(e) === NO_ROOM || e instanceof ShardGoneError) continue;
        this.log.warn({ objectId: object.objectId, index: b.index, userSpaceId: space.userSpaceId, err: (e as Error).message }, 'storing a rebuilt block failed here');
      }
    }
    return false;
  }

  /** Queues a repair for every object with a block not `ok` (finds jobs lost with Redis again). */
  async sweep(): Promise<number> {
    const rows: Array<{ user_id: string; object_id: string }> = await this.ds.query(
      `SELECT DISTINCT o.user_id, o.object_id FROM object_blocks b JOIN objects o ON o.object_id = b.object_id WHERE b.state <> 'ok'`,
    );
    for (const r of rows) await this.jobs.queueRepair(Number(r.user_id), Number(r.object_id));
    return rows.length;
  }

  /**
   * Verifies blocks whose last check is older than `olderThanSeconds` (never checked first), at most
   * `bytesPerSecond`, until none is left, `signal` aborts or `maxBlocks` were checked.
   */
  async scrub(opts: { olderThanSeconds?: number; bytesPerSecond?: number; maxBlocks?: number; signal?: AbortSignal } = {}): Promise<ScrubReport> {
    const olderThan = opts.olderThanSeconds ?? this.config.JCS_SCRUB_INTERVAL_SECONDS;
    const rate = opts.bytesPerSecond ?? this.config.JCS_SCRUB_BYTES_PER_SECOND;
    const report: ScrubReport = { checked: 0, damaged: 0, bytes: 0 };
    const started = Date.now();
    // Blocks checked before the pass began minus the interval: this pass's own checks never qualify again.
    const cutoff = new Date(started - olderThan * 1000);
    const pace = async (n: number) => {
      report.bytes += n;
      if (rate <= 0) return;
      const ahead = (report.bytes / rate) * 1000 - (Date.now() - started);
      if (ahead > 5) await sleep(ahead, undefined, { signal: opts.signal }).catch(() => undefined);
    };
    while (!opts.signal?.aborted && report.checked < (opts.maxBlocks ?? Infinity)) {
      const batch: Array<Record<string, any>> = await this.ds.query(SCRUB_BATCH, [cutoff, 50]);
      if (batch.length === 0) break;
      const spaceRows = await this.ds.query('SELECT * FROM user_spaces WHERE user_space_id = ANY($1::bigint[])', [[...new Set(batch.map((r) => r.user_space_id))]]);
      const spaces = new Map<number, UserSpaceEntity>(spaceRows.map((r: Record<string, any>) => [Number(r.user_space_id), userSpaceFromRow(r)]));
      for (const row of batch) {
        if (opts.signal?.aborted) break;
        const found = await this.scrubBlock(row, spaces.get(Number(row.user_space_id))!, pace);
        report.checked++;
        if (found !== 'ok' && found !== 'unreachable') report.damaged++;
      }
    }
    return report;
  }

  private async scrubBlock(row: Record<string, any>, space: UserSpaceEntity, pace: (n: number) => Promise<void>): Promise<'ok' | 'missing' | 'corrupt' | 'unreachable'> {
    const b = { objectId: Number(row.object_id), index: Number(row.index), userSpaceId: Number(row.user_space_id), fileHash: String(row.file_hash), size: Number(row.size) };
    const granuleSize: number = row.granule_size ?? DEFAULT_GRANULE_SIZE;
    const summer = new GranuleSummer(granuleSize);
    const hash = createHash('sha256');
    let size = 0;
    let found: 'ok' | 'missing' | 'corrupt' | 'unreachable' = 'ok';
    try {
      const stream = await this.drivers.shardStoreFor(space).open(b.fileHash);
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        hash.update(chunk);
        summer.update(chunk);
        size += chunk.length;
        await pace(chunk.length);
      }
      const sums = summer.finish();
      if (size !== b.size) found = 'corrupt';
      else if (/^Full[0-9A-F]{64}$/.test(b.fileHash) && fullHash(hash.digest()) !== b.fileHash) found = 'corrupt';
      else if (row.granule_sums && !sums.equals(row.granule_sums)) found = 'corrupt';
      await this.ds.query(RECORD, [b.objectId, b.index, b.userSpaceId, b.fileHash, found, granuleSize, found === 'ok' ? sums : null]);
    } catch (e) {
      found = e instanceof StorageKeyNotFoundError ? 'missing' : 'unreachable';
      // Unreachable: the state stays, the check time moves on (the next pass tries again).
      await this.ds.query(RECORD, [b.objectId, b.index, b.userSpaceId, b.fileHash, found === 'missing' ? 'missing' : null, null, null]);
    }
    if (found === 'missing' || found === 'corrupt') {
      if (row.state === 'ok')
        this.log.error({ objectId: b.objectId, index: b.index, userSpaceId: b.userSpaceId, shard: b.fileHash, state: found }, 'scrub found a damaged block: repair queued');
      await this.jobs.queueRepair(Number(row.user_id), b.objectId);
    }
    return found;
  }

  private async blocksOf(objectId: number): Promise<ReadBlock[]> {
    const rows: Array<Record<string, any>> = await this.ds.query(
      'SELECT index, user_space_id, file_hash, size, state, checked_at, granule_size, granule_sums FROM object_blocks WHERE object_id = $1 ORDER BY index, user_space_id',
      [objectId],
    );
    return rows.map((r) => ({
      objectId,
      index: Number(r.index),
      userSpaceId: Number(r.user_space_id),
      fileHash: r.file_hash,
      size: Number(r.size),
      state: r.state,
      checkedAt: r.checked_at,
      granuleSize: r.granule_size === null ? null : Number(r.granule_size),
      granuleSums: r.granule_sums,
      hasSums: r.granule_sums !== null,
    }));
  }

  private async tenantSpaces(userId: number, ids: number[]): Promise<Map<number, UserSpaceEntity>> {
    const rows = await this.ds.query('SELECT * FROM user_spaces WHERE user_id = $1 AND user_space_id = ANY($2::bigint[])', [userId, ids]);
    return new Map(rows.map((r: Record<string, any>) => [Number(r.user_space_id), userSpaceFromRow(r)]));
  }

  /** The tenant's spaces with a shard store and room for `size` more bytes. */
  private async spacesWithRoom(userId: number, size: number): Promise<UserSpaceEntity[]> {
    const rows = await this.ds.query(
      `SELECT s.* FROM user_spaces s LEFT JOIN space_usage u ON u.user_space_id = s.user_space_id
       WHERE s.user_id = $1 AND s.shard_store IS NOT NULL AND s.shard_store <> 'null'::jsonb
         AND COALESCE(u.used_bytes, 0) + $2 <= COALESCE((s.shard_store->>'maxSize')::bigint, 0)
       ORDER BY s.user_space_id`,
      [userId, size],
    );
    return rows.map(userSpaceFromRow);
  }
}

async function* tapped(src: AsyncGenerator<Buffer>, summer: GranuleSummer): AsyncGenerator<Buffer> {
  for await (const b of src) {
    summer.update(b);
    yield b;
  }
}

/** Repair's swap: the damaged row becomes the rebuilt block, only if nothing changed meanwhile. */
const SWAP = `UPDATE object_blocks b SET user_space_id = $6, state = 'ok', checked_at = now(), granule_size = $7, granule_sums = $8
  FROM objects o
  WHERE o.object_id = b.object_id AND o.user_id = $1 AND o.file_hash = $9 AND o.redundancy = $10::jsonb
    AND b.object_id = $2 AND b.index = $3 AND b.user_space_id = $4 AND b.file_hash = $5 AND b.state <> 'ok'
  RETURNING b.index`;

/** The next blocks to scrub (oldest check first: the object_blocks_checked index), with their space and tenant. */
const SCRUB_BATCH = `SELECT b.object_id, b.index, b.user_space_id, b.file_hash, b.size, b.state, b.granule_size, b.granule_sums, o.user_id
  FROM object_blocks b JOIN objects o ON o.object_id = b.object_id
  WHERE b.checked_at IS NULL OR b.checked_at < $1::timestamptz
  ORDER BY b.checked_at NULLS FIRST, b.object_id
  LIMIT $2`;

/** A scrub's finding (state NULL: unchanged); granule sums filled in where there were none. */
const RECORD = `UPDATE object_blocks SET state = COALESCE($5, state), checked_at = now(),
    granule_size = CASE WHEN granule_sums IS NULL AND $7::bytea IS NOT NULL THEN $6 ELSE granule_size END,
    granule_sums = COALESCE(granule_sums, $7::bytea)
  WHERE object_id = $1 AND index = $2 AND user_space_id = $3 AND file_hash = $4`;

