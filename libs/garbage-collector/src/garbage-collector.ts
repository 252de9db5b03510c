import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, Not, IsNull } from 'typeorm';
import { operationFailed } from '#common';
import { APP_CONFIG, type AppConfig } from '#config';
import { UserSpaceEntity } from '#db';
import { deletingMarkTtlMs, type ShardStore } from '#shard-store';
import { SpaceDrivers } from '#user-spaces';

export interface GcReport {
  abortedUploads: number;
  /** Shards found unreferenced this run; they are removed once doomed for JCS_GC_READ_GRACE_SECONDS. */
  doomedShards: number;
  removedShards: number;
  removedTempFiles: number;
  /** User spaces whose storage failed this run (their shards are left for a later run). */
  skippedSpaces: number[];
  errors: number;
}

/** Rows examined per doom transaction and marked per delete transaction. */
const DOOM_BATCH = 1000;
const DELETE_BATCH = 200;
/** Bounds the work of one run, so a run always ends (the next one continues). */
const MAX_BATCHES = 50;

/** Open S3 uploads older than $1 seconds, and completed ones kept an hour for a retried Complete. */
const S3_UPLOADS_SWEEP = `WITH d AS (DELETE FROM s3_uploads WHERE upload_id IN (
    SELECT upload_id FROM s3_uploads
    WHERE (completed_time IS NULL AND create_time < now() - make_interval(secs => $1))
       OR completed_time < now() - interval '1 hour'
    FOR UPDATE SKIP LOCKED) RETURNING completed_time IS NULL AS open)
  SELECT open FROM d`;

type ShardRow = { user_space_id: string; file_hash: string };

const REFERENCED = `(EXISTS (SELECT 1 FROM object_blocks b WHERE b.user_space_id = s.user_space_id AND b.file_hash = s.file_hash)
  OR EXISTS (SELECT 1 FROM multipart_parts p WHERE p.user_space_id = s.user_space_id AND p.file_hash = s.file_hash)
  OR EXISTS (SELECT 1 FROM s3_upload_parts p WHERE p.user_space_id = s.user_space_id AND p.file_hash = s.file_hash))`;

/**
 * Removes what no object needs any more: abandoned multipart uploads (/v1 and S3), shards that no block or part
 * references, and temp files of crashed (or very old) uploads. No row lock is held across storage I/O:
 *
 * 1. doom: in a short transaction, shards unreferenced and untouched for JCS_GC_GRACE_SECONDS are
 *    locked (FOR UPDATE SKIP LOCKED), re-checked for references in a second statement (a fresh
 *    snapshot, so a reference committed while we locked is seen) and marked `doomed_since`.
 *    Referencing a shard again clears the mark (ShardRegistry.reference), so a doomed shard has had
 *    no reference since its mark: only a read that started before the mark can still use it.
 * 2. delete: shards doomed for at least JCS_GC_READ_GRACE_SECONDS (reads in flight that long keep
 *    clearing the mark: ObjectReader) are marked `deleting` in a short transaction, the same way;
 *    then, with no transaction open, their files are deleted space by space, each with a time-out;
 *    the first failure in a space reverts that space's remaining marks and skips the space for this
 *    run (the others go on); then the rows of the deleted files are dropped. Uploads that meet a
 *    `deleting` row wait for it to go and write the shard anew (ShardRegistry.touch).
 * 3. temp sweep: temp files of instances whose heartbeat is older than JCS_INSTANCE_TTL_SECONDS (a
 *    crashed process) are removed at once; a live instance's only after JCS_GC_TEMP_GRACE_SECONDS.
 */
@Injectable()
export class GarbageCollector {
  private readonly log = new Logger('GarbageCollector');

  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly drivers: SpaceDrivers,
  ) {}

  async run(): Promise<GcReport> {
    const report: GcReport = { abortedUploads: 0, doomedShards: 0, removedShards: 0, removedTempFiles: 0, skippedSpaces: [], errors: 0 };
    const aborted: unknown[] = await this.ds.query(
      // Rows locked in the order batch commits lock them (package, path bytes); busy ones wait for the next run.
      `WITH l AS MATERIALIZED (SELECT object_id FROM objects WHERE redundancy->>'type' = 'multipartUpload'
                  AND update_time < now() - make_interval(secs => $1)
                  ORDER BY package_id, path COLLATE "C" FOR UPDATE SKIP LOCKED),
            d AS (DELETE FROM objects o USING l WHERE o.object_id = l.object_id RETURNING 1)
       SELECT * FROM d`,
      [this.config.JCS_MULTIPART_MAX_AGE_SECONDS],
    );
    // S3 uploads (invisible until Complete) expire the same way; completed ones kept for a retried
    // Complete go after an hour.
    const s3: Array<{ open: boolean }> = await this.ds.query(S3_UPLOADS_SWEEP, [this.config.JCS_MULTIPART_MAX_AGE_SECONDS]);
    report.abortedUploads = aborted.length + s3.filter((r) => r.open).length;
    await this.doom(report);
    await this.removeDoomed(report);
    await this.sweepTemp(report);
    if (report.abortedUploads || report.removedShards || report.removedTempFiles || report.errors) this.log.log(report, 'garbage collected');
    return report;
  }

  private async doom(report: GcReport): Promise<void> {
    let after: ShardRow = { user_space_id: '0', file_hash: '' };
    for (let batch = 0; batch < MAX_BATCHES; batch++) {
      const found = await this.ds.transaction(async (em) => {
        const rows: ShardRow[] = await em.query(
          `SELECT user_space_id, file_hash FROM shards s
           WHERE doomed_since IS NULL AND deleting_since IS NULL AND touch_time < now() - make_interval(secs => $1)
             AND (user_space_id, file_hash) > ($2::bigint, $3::text) AND NOT ${REFERENCED}
           ORDER BY user_space_id, file_hash LIMIT $4 FOR UPDATE SKIP LOCKED`,
          [this.config.JCS_GC_GRACE_SECONDS, after.user_space_id, after.file_hash, DOOM_BATCH],
        );
        if (rows.length === 0) return rows;
        const [{ n }] = await em.query(
          `WITH u AS (UPDATE shards s SET doomed_since = now() FROM unnest($1::bigint[], $2::text[]) AS t(space, hash)
                      WHERE s.user_space_id = t.space AND s.file_hash = t.hash AND NOT ${REFERENCED} RETURNING 1)
           SELECT count(*)::int AS n FROM u`,
          [rows.map((r) => r.user_space_id), rows.map((r) => r.file_hash)],
        );
        report.doomedShards += n;
        return rows;
      });
      if (found.length < DOOM_BATCH) return;
      after = found[found.length - 1]!;
    }
  }

  private async removeDoomed(report: GcReport): Promise<void> {
    const staleMs = deletingMarkTtlMs(this.config);
    const skipped = new Set<number>();
    const spaces = new Map<number, ShardStore | null>();
    const storeOf = async (id: number): Promise<ShardStore | null> => {
      if (!spaces.has(id)) {
        const space = await this.ds.getRepository(UserSpaceEntity).findOneBy({ userSpaceId: id });
        spaces.set(id, space ? this.drivers.shardStoreFor(space) : null);
      }
      return spaces.get(id)!;
    };

    for (let batch = 0; batch < MAX_BATCHES; batch++) {
      const marked = await this.ds.transaction(async (em) => {
        const rows: ShardRow[] = await em.query(
          `SELECT user_space_id, file_hash FROM shards s
           WHERE ((deleting_since IS NULL AND doomed_since <= now() - make_interval(secs => $1)
                   AND touch_time < now() - make_interval(secs => $2))
                  OR deleting_since < now() - make_interval(secs => $3))
             AND NOT (user_space_id = ANY($4::bigint[]))
           ORDER BY user_space_id, file_hash LIMIT $5 FOR UPDATE SKIP LOCKED`,
          [this.config.JCS_GC_READ_GRACE_SECONDS, this.config.JCS_GC_GRACE_SECONDS, staleMs / 1000, [...skipped], DELETE_BATCH],
        );
        if (rows.length === 0) return { rows, mark: '', marked: [] as ShardRow[] };
        const keys = [rows.map((r) => r.user_space_id), rows.map((r) => r.file_hash)];
        // Re-checked with a fresh snapshot now that the rows are ours (a reference committed before we
        // locked is visible; a later one waits for our commit and then sees the mark).
        const marked: Array<ShardRow & { mark: string }> = await em.query(
          `WITH u AS (UPDATE shards s SET deleting_since = now() FROM unnest($1::bigint[], $2::text[]) AS t(space, hash)
                      WHERE s.user_space_id = t.space AND s.file_hash = t.hash AND NOT ${REFERENCED}
                      RETURNING s.user_space_id, s.file_hash, s.deleting_since::text AS mark)
           SELECT * FROM u`,
          keys,
        );
        // Referenced after all (should not happen: referencing clears the mark): not doomed.
        if (marked.length < rows.length)
          await em.query(
            `UPDATE shards s SET doomed_since = NULL FROM unnest($1::bigint[], $2::text[]) AS t(space, hash)
             WHERE s.user_space_id = t.space AND s.file_hash = t.hash AND s.deleting_since IS NULL`,
            keys,
          );
        return { rows, mark: marked[0]?.mark ?? '', marked: marked as ShardRow[] };
      });
      if (marked.rows.length === 0) return;
      const markedAt = Date.now();

      const bySpace = new Map<number, string[]>();
      for (const r of marked.marked) {
        const id = Number(r.user_space_id);
        bySpace.set(id, [...(bySpace.get(id) ?? []), r.file_hash]);
      }
      for (const [spaceId, hashes] of bySpace) {
        const removed: string[] = [];
        let failure: string | undefined;
        const store = await storeOf(spaceId).catch(() => null);
        for (const hash of hashes) {
          // Past half the mark's lifetime another process may take the mark over: stop in time.
          if (!store || Date.now() - markedAt > staleMs / 2) {
            failure = store ? 'the batch ran out of time' : 'the user space cannot be loaded';
            break;
          }
          try {
            await withTimeout(store.remove(hash), this.config.JCS_BACKEND_TIMEOUT_MS);
            removed.push(hash);
          } catch (e) {
            failure = (e as Error).message;
            break;
          }
        }
        if (removed.length) {
          const [{ n }] = await this.ds.query(
            `WITH d AS (DELETE FROM shards s USING unnest($2::text[]) AS t(hash)
                        WHERE s.user_space_id = $1 AND s.file_hash = t.hash AND s.deleting_since = $3::timestamptz RETURNING 1)
             SELECT count(*)::int AS n FROM d`,
            [spaceId, removed, marked.mark],
          );
          report.removedShards += n;
        }
        if (failure !== undefined) {
          const rest = hashes.slice(removed.length);
          await this.ds.query(
            `UPDATE shards s SET deleting_since = NULL FROM unnest($2::text[]) AS t(hash)
             WHERE s.user_space_id = $1 AND s.file_hash = t.hash AND s.deleting_since = $3::timestamptz`,
            [spaceId, rest, marked.mark],
          );
          skipped.add(spaceId);
          report.errors++;
          report.skippedSpaces.push(spaceId);
          this.log.warn({ space: spaceId, err: failure }, 'could not remove shards; skipping this user space until the next run');
        }
      }
      if (marked.rows.length < DELETE_BATCH) return;
    }
  }

  private async sweepTemp(report: GcReport): Promise<void> {
    const legacyCutoff = Date.now() - this.config.JCS_GC_GRACE_SECONDS * 1000;
    const liveCutoff = Date.now() - this.config.JCS_GC_TEMP_GRACE_SECONDS * 1000;
    const stores = await this.ds.getRepository(UserSpaceEntity).find({ where: { shardStore: Not(IsNull()) } });
    for (const space of stores) {
      try {
        const store = this.drivers.shardStoreFor(space);
        for await (const page of store.tmpEntries()) {
          // Read after listing: an instance registers before it writes, so every listed file's
          // instance is in this answer if it is alive.
          const live = await this.liveInstances();
          for (const e of page) {
            const owner = store.tmpOwner(e.key);
            const cutoff = owner === undefined ? legacyCutoff : live.has(owner) ? liveCutoff : Infinity;
            if (e.modTime.getTime() >= cutoff) continue;
            await store.removeTemp(e.key);
            report.removedTempFiles++;
          }
        }
      } catch (e) {
        report.errors++;
        this.log.warn({ space: space.userSpaceId, err: (e as Error).message }, 'could not sweep temp files');
      }
    }
    // Rows of instances gone for longer than any of their temp files may live.
    await this.ds.query(`DELETE FROM gateway_instances WHERE heartbeat_time < now() - make_interval(secs => $1)`, [
      this.config.JCS_INSTANCE_TTL_SECONDS + this.config.JCS_GC_TEMP_GRACE_SECONDS,
    ]);
  }

  private async liveInstances(): Promise<Set<string>> {
    const rows: Array<{ instance_id: string }> = await this.ds.query(
      `SELECT instance_id FROM gateway_instances WHERE heartbeat_time >= now() - make_interval(secs => $1)`,
      [this.config.JCS_INSTANCE_TTL_SECONDS],
    );
    return new Set(rows.map((r) => r.instance_id));
  }
}

async function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      work,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(operationFailed(`the storage did not answer within ${ms} ms`, 504)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
