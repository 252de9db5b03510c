import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, Not, IsNull } from 'typeorm';
import { APP_CONFIG, type AppConfig } from '#config';
import { UserSpaceEntity } from '#db';
import { SpaceDrivers } from '#user-spaces';

export interface GcReport {
  abortedUploads: number;
  removedShards: number;
  removedTempFiles: number;
  errors: number;
}

const BATCH = 500;

/**
 * Removes what no object needs any more, after a grace period: abandoned multipart uploads, shards
 * that no block or part references, and temp files left by interrupted uploads. A shard is taken
 * under its row lock (the same lock an upload's touch takes), and only when its last touch is older
 * than the grace period, so a shard that an upload in flight or a live object uses is never removed.
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
    const report: GcReport = { abortedUploads: 0, removedShards: 0, removedTempFiles: 0, errors: 0 };
    const aborted: unknown[] = await this.ds.query(
      `WITH d AS (DELETE FROM objects WHERE redundancy->>'type' = 'multipartUpload'
                  AND update_time < now() - make_interval(secs => $1) RETURNING 1) SELECT * FROM d`,
      [this.config.JCS_MULTIPART_MAX_AGE_SECONDS],
    );
    report.abortedUploads = aborted.length;

    const spaces = new Map<number, UserSpaceEntity>();
    const spaceOf = async (id: number) => {
      if (!spaces.has(id)) spaces.set(id, await this.ds.getRepository(UserSpaceEntity).findOneByOrFail({ userSpaceId: id }));
      return spaces.get(id)!;
    };

    for (;;) {
      const removed = await this.ds.transaction(async (em) => {
        const rows: Array<{ user_space_id: string; file_hash: string }> = await em.query(
          `SELECT user_space_id, file_hash FROM shards s
           WHERE touch_time < now() - make_interval(secs => $1)
             AND NOT EXISTS (SELECT 1 FROM object_blocks b WHERE b.user_space_id = s.user_space_id AND b.file_hash = s.file_hash)
             AND NOT EXISTS (SELECT 1 FROM multipart_parts p WHERE p.user_space_id = s.user_space_id AND p.file_hash = s.file_hash)
           ORDER BY touch_time LIMIT $2 FOR UPDATE SKIP LOCKED`,
          [this.config.JCS_GC_GRACE_SECONDS, BATCH],
        );
        const gone: typeof rows = [];
        for (const r of rows) {
          try {
            await this.drivers.shardStoreFor(await spaceOf(Number(r.user_space_id))).remove(r.file_hash);
            gone.push(r);
          } catch (e) {
            report.errors++;
            this.log.warn({ space: r.user_space_id, shard: r.file_hash, err: (e as Error).message }, 'could not remove shard');
          }
        }
        if (gone.length)
          await em.query('DELETE FROM shards WHERE (user_space_id, file_hash) IN (SELECT * FROM unnest($1::bigint[], $2::text[]))', [
            gone.map((r) => r.user_space_id),
            gone.map((r) => r.file_hash),
          ]);
        return { found: rows.length, gone: gone.length };
      });
      report.removedShards += removed.gone;
      if (removed.found < BATCH || removed.gone === 0) break;
    }

    const cutoff = Date.now() - this.config.JCS_GC_GRACE_SECONDS * 1000;
    const stores = await this.ds.getRepository(UserSpaceEntity).find({ where: { shardStore: Not(IsNull()) } });
    for (const space of stores) {
      try {
        const store = this.drivers.shardStoreFor(space);
        for await (const page of store.tmpEntries()) {
          for (const e of page) {
            if (e.modTime.getTime() >= cutoff) continue;
            await store.driver.delete(e.key);
            report.removedTempFiles++;
          }
        }
      } catch (e) {
        report.errors++;
        this.log.warn({ space: space.userSpaceId, err: (e as Error).message }, 'could not sweep temp files');
      }
    }
    if (report.abortedUploads || report.removedShards || report.removedTempFiles || report.errors) this.log.log(report, 'garbage collected');
    return report;
  }
}
