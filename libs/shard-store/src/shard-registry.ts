import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, type EntityManager } from 'typeorm';
import { APP_CONFIG, type AppConfig } from '#config';
import { operationFailed } from '#common';
import { sqlOf, type Sql } from '#db';

export interface ShardKey {
  userSpaceId: number;
  fileHash: string;
}

/** Thrown when a transaction would reference a shard that the collector has removed or is removing. */
export class ShardGoneError extends Error {
  constructor(readonly shard: ShardKey) {
    super(`shard ${shard.fileHash} of user space ${shard.userSpaceId} has been collected`);
  }
}

/** Sorted, de-duplicated keys: every statement locking several shard rows locks them in this order. */
export function sortedShardKeys<T extends ShardKey>(shards: T[]): T[] {
  const unique = [...new Map(shards.map((s) => [`${s.userSpaceId}/${s.fileHash}`, s])).values()];
  return unique.sort((a, b) => a.userSpaceId - b.userSpaceId || (a.fileHash < b.fileHash ? -1 : a.fileHash > b.fileHash ? 1 : 0));
}

/**
 * How long a collector's `deleting` mark may stand before another process takes it over (the
 * collector died mid-run). The collector itself gives up a batch well before (half of it).
 */
export const deletingMarkTtlMs = (config: Pick<AppConfig, 'JCS_BACKEND_TIMEOUT_MS'>) => Math.max(60_000, 4 * config.JCS_BACKEND_TIMEOUT_MS);

/**
 * The `shards` table: which shard files exist in which space, and their collection state. The
 * protocol with the collector (GarbageCollector):
 * - an upload `touch`es its shards before publishing them: it never reuses a row the collector is
 *   deleting (it waits until the row is gone, then records the shard anew and writes the file again);
 * - every transaction that adds references (blocks, parts) calls `reference`, which takes a KEY SHARE
 *   lock on the rows (the collector marks under FOR UPDATE SKIP LOCKED and re-checks references after
 *   locking, so it cannot miss a reference committed meanwhile) and clears a `doomed` mark: a doomed
 *   shard has had no reference since it was doomed, so only reads older than the mark can use it;
 * - a long read calls `keepAlive` to clear the `doomed` mark of the shards it still needs.
 * Rows are always locked in `sortedShardKeys` order.
 */
@Injectable()
export class ShardRegistry {
  /** `touch` runs on every upload: straight to the pool, as a prepared statement. */
  private readonly sql: Sql;

  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    this.sql = sqlOf(ds);
  }

  /**
   * Records (or refreshes) shards about to be published in a space: one statement for a batch. A
   * shard whose file the collector is deleting is waited for (bounded), then recorded anew.
   */
  async touch(userSpaceId: number, shards: Array<{ fileHash: string; size: number }>): Promise<void> {
    let pending = sortedShardKeys(shards.map((s) => ({ ...s, userSpaceId })));
    const staleMs = deletingMarkTtlMs(this.config);
    const deadline = Date.now() + staleMs + 10_000;
    for (let wait = 20; pending.length > 0; wait = Math.min(wait * 2, 500)) {
      const done = await this.sql.rows<{ file_hash: string }>(TOUCH, [
        userSpaceId,
        pending.map((s) => s.fileHash),
        pending.map((s) => s.size),
        staleMs / 1000,
      ]);
      const ok = new Set(done.map((r) => r.file_hash));
      pending = pending.filter((s) => !ok.has(s.fileHash));
      if (pending.length === 0) return;
      // The collector is deleting these files right now: wait until it has dropped their rows.
      if (Date.now() > deadline) throw operationFailed('the shard store is busy collecting the same content; try again', 503);
      await new Promise((r) => setTimeout(r, wait));
    }
  }

  /**
   * Called inside a transaction that is about to reference `shards` (insert blocks or parts): holds
   * them against the collector until the commit and clears their `doomed` mark. Throws ShardGoneError
   * when one has been collected or is being deleted.
   */
  async reference(em: EntityManager, shards: ShardKey[]): Promise<void> {
    const keys = sortedShardKeys(shards);
    if (keys.length === 0) return;
    const rows: Array<{ user_space_id: string; file_hash: string; doomed: boolean; deleting: boolean }> = await em.query(
      `SELECT s.user_space_id, s.file_hash, s.doomed_since IS NOT NULL AS doomed, s.deleting_since IS NOT NULL AS deleting
       FROM shards s JOIN unnest($1::bigint[], $2::text[]) AS t(space, hash) ON s.user_space_id = t.space AND s.file_hash = t.hash
       ORDER BY s.user_space_id, s.file_hash FOR KEY SHARE OF s`,
      [keys.map((k) => k.userSpaceId), keys.map((k) => k.fileHash)],
    );
    const found = new Map(rows.map((r) => [`${r.user_space_id}/${r.file_hash}`, r]));
    for (const k of keys) {
      const r = found.get(`${k.userSpaceId}/${k.fileHash}`);
      if (!r || r.deleting) throw new ShardGoneError(k);
    }
    const doomed = rows.filter((r) => r.doomed);
    if (doomed.length)
      await em.query(
        `UPDATE shards s SET doomed_since = NULL FROM unnest($1::bigint[], $2::text[]) AS t(space, hash)
         WHERE s.user_space_id = t.space AND s.file_hash = t.hash`,
        [doomed.map((r) => r.user_space_id), doomed.map((r) => r.file_hash)],
      );
  }

  /** A read still in flight needs these shards: clears their `doomed` mark (the collector's clock restarts). */
  async keepAlive(shards: ShardKey[]): Promise<void> {
    const keys = sortedShardKeys(shards);
    if (keys.length === 0) return;
    await this.ds.query(
      `UPDATE shards s SET doomed_since = NULL FROM unnest($1::bigint[], $2::text[]) AS t(space, hash)
       WHERE s.user_space_id = t.space AND s.file_hash = t.hash AND s.doomed_since IS NOT NULL AND s.deleting_since IS NULL`,
      [keys.map((k) => k.userSpaceId), keys.map((k) => k.fileHash)],
    );
  }
}

/** ShardRegistry.touch's one statement (rows written in hash order: the lock order of sortedShardKeys). */
const TOUCH = {
  name: 'shards.touch',
  text: `INSERT INTO shards (user_space_id, file_hash, size, touch_time)
         SELECT $1, t.hash, t.size, now() FROM unnest($2::text[], $3::bigint[]) AS t(hash, size)
         ORDER BY t.hash
         ON CONFLICT (user_space_id, file_hash) DO UPDATE SET touch_time = now(), doomed_since = NULL, deleting_since = NULL
           WHERE shards.deleting_since IS NULL OR shards.deleting_since < now() - make_interval(secs => $4)
         RETURNING file_hash`,
};
