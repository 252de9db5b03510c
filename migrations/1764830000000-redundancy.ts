import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Redundancy (issue 9): block health and per-granule checksums in the block map, a package's own
 * policy, and exact per-space accounting of stored bytes.
 *
 * - `packages.redundancy`: the package's policy (JSON, as accepted by #redundancy's parsePolicy);
 *   NULL = the gateway's default (JCS_DEFAULT_REDUNDANCY).
 * - `object_blocks.state`: `ok`, `missing` (never written, or found absent; the row keeps the block's
 *   expected fileHash, size and granule sums so a repair can rebuild and verify it) or `corrupt`
 *   (its bytes do not match). `checked_at`: when a scrub or a read last verified it.
 * - `object_blocks.granule_size` / `granule_sums`: the block's bytes cut in granules of granule_size
 *   bytes (the last one shorter), each with its CRC-32 (zlib.crc32, IEEE), as big-endian uint32s one
 *   after the other. NULL on blocks written before this migration (a read of those verifies only
 *   whole shards; a scrub fills them in).
 * - `space_usage.used_bytes`: the bytes of the blocks and multipart parts that reference the space
 *   (blocks in state `missing` do not count). Kept by statement triggers on object_blocks and
 *   multipart_parts, so every path that writes blocks (upload, completion, clone, repair swap, delete,
 *   package delete cascade) accounts in its own transaction; a statement that would take a space
 *   past its `shardStore.maxSize` fails with SQLSTATE JC002 (DETAIL = the user space ID) and
 *   nothing of it is written. Logical bytes: a clone counts again, so physical use never exceeds it.
 *   Rows are upserted in user_space_id order, so concurrent commits queue instead of deadlocking.
 */
export class Redundancy1764830000000 implements MigrationInterface {
  name = 'Redundancy1764830000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE packages ADD COLUMN redundancy jsonb`);
    await q.query(`
      ALTER TABLE object_blocks
        ADD COLUMN state text NOT NULL DEFAULT 'ok' CHECK (state IN ('ok', 'missing', 'corrupt')),
        ADD COLUMN checked_at timestamptz,
        ADD COLUMN granule_size int,
        ADD COLUMN granule_sums bytea`);
    await q.query(`CREATE INDEX object_blocks_unhealthy ON object_blocks(object_id) WHERE state <> 'ok'`);
    await q.query(`CREATE INDEX object_blocks_checked ON object_blocks(checked_at NULLS FIRST, object_id)`);
    await q.query(`
      CREATE TABLE space_usage (
        user_space_id bigint PRIMARY KEY REFERENCES user_spaces(user_space_id) ON DELETE CASCADE,
        used_bytes bigint NOT NULL DEFAULT 0
      )`);
    await q.query(`
      INSERT INTO space_usage (user_space_id, used_bytes)
      SELECT user_space_id, sum(size) FROM (
        SELECT user_space_id, size FROM object_blocks
        UNION ALL SELECT user_space_id, size FROM multipart_parts) u
      GROUP BY user_space_id`);
    for (const [table, counted] of [
      ['object_blocks', "state <> 'missing'"],
      ['multipart_parts', 'true'],
    ] as const) {
      for (const [op, refs, rows] of [
        ['INSERT', 'NEW TABLE AS new_rows', `SELECT user_space_id, size FROM new_rows WHERE ${counted}`],
        ['UPDATE', 'OLD TABLE AS old_rows NEW TABLE AS new_rows',
          `SELECT user_space_id, size FROM new_rows WHERE ${counted} UNION ALL SELECT user_space_id, -size FROM old_rows WHERE ${counted}`],
        ['DELETE', 'OLD TABLE AS old_rows', `SELECT user_space_id, -size FROM old_rows WHERE ${counted}`],
      ] as const) {
        const fn = `jcs_usage_${table}_${op.toLowerCase()}`;
        await q.query(`
          CREATE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql AS $fn$
          DECLARE
            over record;
          BEGIN
            WITH d AS (
              SELECT user_space_id, sum(size)::bigint AS delta FROM (${rows}) x(user_space_id, size)
              GROUP BY user_space_id HAVING sum(size) <> 0 ORDER BY user_space_id),
            up AS (
              INSERT INTO space_usage AS u (user_space_id, used_bytes) SELECT user_space_id, delta FROM d
              ON CONFLICT (user_space_id) DO UPDATE SET used_bytes = u.used_bytes + EXCLUDED.used_bytes
              RETURNING u.user_space_id, u.used_bytes)
            SELECT up.user_space_id INTO over
            FROM up JOIN d ON d.user_space_id = up.user_space_id JOIN user_spaces s ON s.user_space_id = up.user_space_id
            WHERE d.delta > 0 AND up.used_bytes > COALESCE((s.shard_store->>'maxSize')::bigint, 0)
            ORDER BY up.user_space_id LIMIT 1;
            IF FOUND THEN
              RAISE EXCEPTION 'user space % has no room left', over.user_space_id
                USING ERRCODE = 'JC002', DETAIL = over.user_space_id::text;
            END IF;
            RETURN NULL;
          END
          $fn$`);
        await q.query(`CREATE TRIGGER ${fn} AFTER ${op} ON ${table} REFERENCING ${refs} FOR EACH STATEMENT EXECUTE FUNCTION ${fn}()`);
      }
    }
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of ['object_blocks', 'multipart_parts']) {
      for (const op of ['insert', 'update', 'delete']) {
        await q.query(`DROP TRIGGER IF EXISTS jcs_usage_${table}_${op} ON ${table}`);
        await q.query(`DROP FUNCTION IF EXISTS jcs_usage_${table}_${op}()`);
      }
    }
    await q.query(`DROP TABLE IF EXISTS space_usage`);
    await q.query(`DROP INDEX IF EXISTS object_blocks_checked`);
    await q.query(`DROP INDEX IF EXISTS object_blocks_unhealthy`);
    await q.query(`ALTER TABLE object_blocks DROP COLUMN IF EXISTS granule_sums, DROP COLUMN IF EXISTS granule_size,
      DROP COLUMN IF EXISTS checked_at, DROP COLUMN IF EXISTS state`);
    await q.query(`ALTER TABLE packages DROP COLUMN IF EXISTS redundancy`);
  }
}
