import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * S3 object metadata: `etag` (hex MD5 of a single S3 PUT, `hex-N` for an S3 multipart upload; NULL for
 * objects written through /v1, which answer their SHA-256 instead) and `s3_meta` (Content-Type and the
 * other stored headers, x-amz-meta-*). Both describe one version of the bytes, so a trigger clears
 * them whenever an object's content is replaced in place (jcs_commit_objects' overwrite bumps
 * update_time) by a statement that does not set them itself; a move (path or package changes) keeps
 * them. An S3 write sets them after its commit, in the same transaction.
 */
export class S3ObjectMetadata1764840000000 implements MigrationInterface {
  name = 'S3ObjectMetadata1764840000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE objects ADD COLUMN etag text, ADD COLUMN s3_meta jsonb`);
    await q.query(`
      CREATE FUNCTION jcs_objects_clear_s3_meta() RETURNS trigger LANGUAGE plpgsql AS $fn$
      BEGIN
        IF NEW.update_time IS DISTINCT FROM OLD.update_time
           AND NEW.path = OLD.path AND NEW.package_id = OLD.package_id
           AND NEW.etag IS NOT DISTINCT FROM OLD.etag AND NEW.s3_meta IS NOT DISTINCT FROM OLD.s3_meta
           AND (NEW.file_hash IS DISTINCT FROM OLD.file_hash OR NEW.size IS DISTINCT FROM OLD.size
                OR NEW.redundancy IS DISTINCT FROM OLD.redundancy OR NEW.update_time > OLD.update_time) THEN
          NEW.etag := NULL;
          NEW.s3_meta := NULL;
        END IF;
        RETURN NEW;
      END
      $fn$`);
    await q.query(`CREATE TRIGGER objects_clear_s3_meta BEFORE UPDATE ON objects FOR EACH ROW EXECUTE FUNCTION jcs_objects_clear_s3_meta()`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TRIGGER IF EXISTS objects_clear_s3_meta ON objects`);
    await q.query(`DROP FUNCTION IF EXISTS jcs_objects_clear_s3_meta()`);
    await q.query(`ALTER TABLE objects DROP COLUMN IF EXISTS etag, DROP COLUMN IF EXISTS s3_meta`);
  }
}
