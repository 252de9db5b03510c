import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Garbage collection without row locks across storage I/O, and safe for reads in flight:
 * - `shards.doomed_since`: when the collector found the shard unreferenced; it is removed only after
 *   JCS_GC_READ_GRACE_SECONDS more (and only if still unreferenced). Referencing it again clears it.
 * - `shards.deleting_since`: the collector is deleting the file; uploads wait instead of reusing it.
 * - `gateway_instances`: each process's heartbeat, so the temp sweep can tell a live process's
 *   in-flight temp files (`shards/tmp/<instance_id>/…`) from a crashed one's leftovers.
 */
export class GcMarks1764600000000 implements MigrationInterface {
  name = 'GcMarks1764600000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE shards ADD COLUMN doomed_since timestamptz, ADD COLUMN deleting_since timestamptz`);
    await q.query(`CREATE INDEX shards_doomed ON shards(doomed_since) WHERE doomed_since IS NOT NULL`);
    await q.query(`CREATE INDEX shards_deleting ON shards(deleting_since) WHERE deleting_since IS NOT NULL`);
    await q.query(`
      CREATE TABLE gateway_instances (
        instance_id text PRIMARY KEY,
        start_time timestamptz NOT NULL DEFAULT now(),
        heartbeat_time timestamptz NOT NULL DEFAULT now()
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE IF EXISTS gateway_instances`);
    await q.query(`DROP INDEX IF EXISTS shards_deleting`);
    await q.query(`DROP INDEX IF EXISTS shards_doomed`);
    await q.query(`ALTER TABLE shards DROP COLUMN IF EXISTS deleting_since, DROP COLUMN IF EXISTS doomed_since`);
  }
}
