import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { DomainError, operationFailed } from '#common';
import { APP_CONFIG, type AppConfig } from '#config';
import { sqlOf, type Statement } from '#db';
import { runTransaction } from '#packages';
import { RedundancyJobs, resolvePolicy, samePolicy, type StoredPolicy } from '#redundancy';
import { ShardGoneError } from '#shard-store';
import { BlockWriter } from './block-writer.js';
import { ObjectReader } from './object-reader.js';
import { ObjectsService } from './objects.service.js';
import { CLASSIFIED_OBJECTS } from './redundancy-report.js';

export type ConvertOutcome = 'converted' | 'conforming' | 'changed' | 'gone';

/** Objects of a package the conversion walks per page. */
const PAGE = 100;

/** The next page of a package's pending objects after a path (CLASSIFIED_OBJECTS' `pending`). */
const PENDING_PAGE: Statement = {
  name: 'redundancy.pendingPage',
  text: `${CLASSIFIED_OBJECTS}
    SELECT c.object_id, o.path FROM c JOIN objects o ON o.object_id = c.object_id
    WHERE c.status = 'pending' AND ($4::text IS NULL OR o.path > $4) ORDER BY o.path COLLATE "C" LIMIT $5`,
};

/** Packages with at least one pending object (the sweep). */
const PACKAGES_PAGE: Statement = {
  name: 'redundancy.packagesPage',
  text: `SELECT user_id, package_id FROM packages WHERE package_id > $1 ORDER BY package_id LIMIT $2`,
};

/**
 * The convert job's domain (issue 9 §6): re-encodes an object into its package's resolved policy.
 * The object is read through ObjectReader (verified), written through the BlockWriter (placement,
 * encoding, quorum), its content hash checked, and its blocks swapped in one transaction only if the
 * object is still the version that was read (same fileHash and updateTime): an overwrite, delete or
 * move meanwhile wins and the new blocks are left to the collector. Idempotent: a conforming object
 * is skipped, so a job that runs again (or after a kill) redoes only what is left.
 */
@Injectable()
export class ObjectConverter {
  private readonly log = new Logger('ObjectConverter');

  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly objects: ObjectsService,
    private readonly reader: ObjectReader,
    private readonly writer: BlockWriter,
    private readonly jobs: RedundancyJobs,
  ) {}

  async convertObject(userId: number, objectId: number): Promise<ConvertOutcome> {
    const found = await this.objects.getWithBlocks(userId, objectId).catch((e: unknown) => {
      if (e instanceof DomainError && e.code === 'DataNotFound') return null;
      throw e;
    });
    if (!found) return 'gone';
    const { object, blocks } = found;
    const r = object.redundancy;
    if (r.type === 'multipartUpload' || object.size === 0) return 'conforming';
    const [pkg] = await this.ds.query('SELECT redundancy FROM packages WHERE user_id = $1 AND package_id = $2', [userId, object.packageId]);
    if (!pkg) return 'gone';
    const want = resolvePolicy(this.objects.packagePolicy(pkg.redundancy), object.size);
    if (r.type === 'segment' ? want.type === 'none' : samePolicy(r as StoredPolicy, want)) return 'conforming';
    if (blocks.some((b) => b.state !== 'ok')) {
      // Repair first: a conversion of a degraded object would read through its damage for nothing.
      await this.jobs.queueRepair(userId, objectId);
      throw operationFailed(`object ${objectId} is degraded: repaired before it is converted`, 503);
    }
    const targets = await this.writer.targets(userId, want);
    // Fewer spaces than copies: the placement stores what it can, which may be what is there already.
    if (r.type !== 'segment' && samePolicy(r as StoredPolicy, targets.stored)) return 'conforming';

    const read = await this.reader.prepare(object, blocks, { start: 0, end: object.size - 1 });
    const written = await this.writer.write(await read.open(), targets);
    if (written.fileHash !== object.fileHash || written.size !== object.size) {
      await this.writer.discard(written.staged);
      throw operationFailed(`object ${objectId} read back as other bytes than its hash: not converted`);
    }
    await this.writer.publish(written.staged);
    const swapped = await runTransaction(this.ds, `object ${objectId} not found`, async (em) => {
      const [row] = await em.query(
        `SELECT 1 FROM objects WHERE user_id = $1 AND object_id = $2 AND file_hash = $3
           AND date_trunc('milliseconds', update_time) = $4::timestamptz FOR UPDATE`,
        [userId, objectId, object.fileHash, object.updateTime],
      );
      if (!row) return false;
      await em.query('DELETE FROM object_blocks WHERE object_id = $1', [objectId]);
      await this.objects.insertBlocks(em, written.blocks.map((b) => ({ ...b, objectId })));
      // The object's content is unchanged: its updateTime stays (a conversion is not a write).
      await em.query('UPDATE objects SET redundancy = $2 WHERE object_id = $1', [objectId, JSON.stringify(written.redundancy)]);
      return true;
    }).catch((e: unknown) => {
      if (e instanceof ShardGoneError) return false; // a new block's shard was collected: run again later
      throw e;
    });
    if (!swapped) return 'changed';
    if (written.degraded) await this.jobs.queueRepair(userId, objectId);
    this.log.log({ objectId, from: r, to: written.redundancy }, 'object converted');
    return 'converted';
  }

  /**
   * Converts a package's pending objects page by page (path order). Only pending objects are read,
   * so a run after a kill starts where the last one stopped. Objects that fail are counted and the
   * walk goes on; the sweep finds them again.
   */
  async convertPackage(userId: number, packageId: number): Promise<{ converted: number; failed: number }> {
    const sql = sqlOf(this.ds);
    const defaultJson = JSON.stringify(this.objects.defaultPolicy);
    let after: string | null = null;
    let converted = 0;
    let failed = 0;
    for (;;) {
      const rows = await sql.rows(PENDING_PAGE, [userId, packageId, defaultJson, after, PAGE]);
      if (rows.length === 0) break;
      for (const row of rows) {
        after = row.path as string;
        const outcome = await this.convertObject(userId, Number(row.object_id)).catch((e: Error) => {
          this.log.warn({ objectId: row.object_id, err: e.message }, 'conversion failed');
          failed++;
          return 'failed';
        });
        if (outcome === 'converted') converted++;
      }
    }
    return { converted, failed };
  }

  /** The sweep: queues a package conversion for every package with pending objects (a job lost with Redis is found again). */
  async sweep(): Promise<number> {
    const sql = sqlOf(this.ds);
    const defaultJson = JSON.stringify(this.objects.defaultPolicy);
    let after = 0;
    let queued = 0;
    for (;;) {
      const pkgs = await sql.rows(PACKAGES_PAGE, [after, PAGE]);
      if (pkgs.length === 0) break;
      for (const p of pkgs) {
        after = Number(p.package_id);
        const pending = await sql.rows(PENDING_PAGE, [p.user_id, p.package_id, defaultJson, null, 1]);
        if (pending.length) {
          await this.jobs.queueConvert(Number(p.user_id), { packageId: Number(p.package_id) });
          queued++;
        }
      }
    }
    return queued;
  }
}
