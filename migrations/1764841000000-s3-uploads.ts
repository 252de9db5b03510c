import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * S3 multipart uploads (issue 11 §4). Unlike /v1's multipart (an object visible at its path while
 * open), an S3 upload is invisible until Complete: it lives in its own tables, and an existing object
 * of that key stays readable meanwhile.
 *
 * - `s3_uploads`: one row per upload; `upload_id` is random (unguessable). `s3_meta` is what Create
 *   was given (content type, user metadata, …), handed back at Complete. `completed_*` keep the result
 *   of a Complete for a retried one (clients retry); the collector's sweep drops such rows later.
 * - `s3_upload_parts`: the parts, each a shard of its own (like multipart_parts), with the part's MD5.
 *   They count as references for the collector and in space_usage (statement triggers of the same
 *   shape as 1764830000000's; a statement taking a space past its maxSize fails with JC002).
 */
export class S3Uploads1764841000000 implements MigrationInterface {
  name = 'S3Uploads1764841000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE s3_uploads (
        upload_id text PRIMARY KEY,
        user_id bigint NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,
        package_id bigint NOT NULL REFERENCES packages(package_id) ON DELETE CASCADE,
        key text NOT NULL,
        s3_meta jsonb NOT NULL DEFAULT '{}',
        create_time timestamptz NOT NULL DEFAULT now(),
        completed_object_id bigint,
        completed_etag text,
        completed_time timestamptz
      )`);
    await q.query(`CREATE INDEX s3_uploads_listing ON s3_uploads(user_id, package_id, key COLLATE "C", upload_id) WHERE completed_time IS NULL`);
    await q.query(`CREATE INDEX s3_uploads_age ON s3_uploads(create_time)`);
    await q.query(`
      CREATE TABLE s3_upload_parts (
        upload_id text NOT NULL REFERENCES s3_uploads(upload_id) ON DELETE CASCADE,
        part_number int NOT NULL CHECK (part_number BETWEEN 1 AND 10000),
        user_space_id bigint NOT NULL REFERENCES user_spaces(user_space_id),
        file_hash text NOT NULL,
        size bigint NOT NULL,
        md5 bytea NOT NULL,
        create_time timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (upload_id, part_number)
      )`);
    await q.query(`CREATE INDEX s3_upload_parts_shard ON s3_upload_parts(user_space_id, file_hash)`);
    for (const [op, refs, rows] of [
      ['INSERT', 'NEW TABLE AS new_rows', `SELECT user_space_id, size FROM new_rows`],
      ['UPDATE', 'OLD TABLE AS old_rows NEW TABLE AS new_rows', `SELECT user_space_id, size FROM new_rows UNION ALL SELECT user_space_id, -size FROM old_rows`],
      ['DELETE', 'OLD TABLE AS old_rows', `SELECT user_space_id, -size FROM old_rows`],
    ] as const) {
      const fn = `jcs_usage_s3_upload_parts_${op.toLowerCase()}`;
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
      await q.query(`CREATE TRIGGER ${fn} AFTER ${op} ON s3_upload_parts REFERENCING ${refs} FOR EACH STATEMENT EXECUTE FUNCTION ${fn}()`);
    }
  }

  async down(q: QueryRunner): Promise<void> {
    for (const op of ['insert', 'update', 'delete']) {
      await q.query(`DROP TRIGGER IF EXISTS jcs_usage_s3_upload_parts_${op} ON s3_upload_parts`);
      await q.query(`DROP FUNCTION IF EXISTS jcs_usage_s3_upload_parts_${op}()`);
    }
    await q.query(`DROP TABLE IF EXISTS s3_upload_parts`);
    await q.query(`DROP TABLE IF EXISTS s3_uploads`);
  }
}
