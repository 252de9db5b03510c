import type { MigrationInterface, QueryRunner } from 'typeorm';
import { CommitObjectsFunction1764800000000 } from './1764800000000-commit-objects-function.js';

/**
 * `jcs_commit_objects` with the redundancy write path's block columns (issue 9): three more arrays
 * parallel to the block arrays, `p_block_states` ('ok' | 'missing'), `p_block_gsizes` and
 * `p_block_gsums` (granule size and CRC-32 sums, NULL when unknown). Same steps and lock order as
 * CommitObjectsFunction1764800000000; the caller passes only the shards of 'ok' blocks in
 * p_shard_spaces/p_shard_hashes, so a block that was never written (its space failed mid-upload) is
 * recorded with its expected hash and sums without going through the shard-row protocol (there is no
 * shard to hold; repair writes it later). The space_usage triggers account the inserted 'ok' blocks
 * in this statement (JC002 when a space would pass its maxSize: nothing is written). Blocks of other
 * objects marked missing or corrupt at the addresses of the shards just written are set 'ok' again:
 * publishing moved freshly hashed bytes over them.
 */
export class CommitObjectsBlockState1764831000000 implements MigrationInterface {
  name = 'CommitObjectsBlockState1764831000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(
      `DROP FUNCTION IF EXISTS jcs_commit_objects(bigint, bigint, text[], bigint[], text[], jsonb[], bigint[], text[], text[], int[], bigint[], text[], bigint[])`,
    );
    await q.query(`
      CREATE FUNCTION jcs_commit_objects(
        p_user bigint, p_package bigint,
        p_paths text[], p_sizes bigint[], p_hashes text[], p_reds jsonb[],
        p_shard_spaces bigint[], p_shard_hashes text[],
        p_block_paths text[], p_block_indexes int[], p_block_spaces bigint[], p_block_hashes text[], p_block_sizes bigint[],
        p_block_states text[], p_block_gsizes int[], p_block_gsums bytea[])
      RETURNS SETOF objects
      LANGUAGE plpgsql VOLATILE
      AS $fn$
      DECLARE
        ids bigint[];
        gone record;
      BEGIN
        WITH pkg AS (SELECT 1 FROM packages WHERE user_id = p_user AND package_id = p_package FOR SHARE),
        up AS (
          INSERT INTO objects (user_id, package_id, path, size, file_hash, redundancy, create_time, update_time)
          SELECT p_user, p_package, t.path, t.size, t.hash, t.red, now(), now()
          FROM unnest(p_paths, p_sizes, p_hashes, p_reds) AS t(path, size, hash, red)
          WHERE EXISTS (SELECT 1 FROM pkg)
          ON CONFLICT (package_id, path) DO UPDATE
            SET size = EXCLUDED.size, file_hash = EXCLUDED.file_hash, redundancy = EXCLUDED.redundancy, update_time = EXCLUDED.update_time
          RETURNING objects.object_id)
        SELECT array_agg(up.object_id) INTO ids FROM up;
        IF ids IS NULL THEN
          RETURN;
        END IF;

        SELECT k.space, k.hash INTO gone
        FROM unnest(p_shard_spaces, p_shard_hashes) WITH ORDINALITY AS k(space, hash, ord)
        LEFT JOIN (
          SELECT s.user_space_id, s.file_hash, s.deleting_since IS NOT NULL AS deleting
          FROM shards s JOIN unnest(p_shard_spaces, p_shard_hashes) AS t(space, hash) ON s.user_space_id = t.space AND s.file_hash = t.hash
          ORDER BY s.user_space_id, s.file_hash FOR KEY SHARE OF s
        ) l ON l.user_space_id = k.space AND l.file_hash = k.hash
        WHERE l.file_hash IS NULL OR l.deleting
        ORDER BY k.ord LIMIT 1;
        IF FOUND THEN
          RAISE EXCEPTION 'shard % of user space % has been collected', gone.hash, gone.space
            USING ERRCODE = 'JC001', DETAIL = gone.space || '/' || gone.hash;
        END IF;
        UPDATE shards s SET doomed_since = NULL FROM unnest(p_shard_spaces, p_shard_hashes) AS t(space, hash)
        WHERE s.user_space_id = t.space AND s.file_hash = t.hash AND s.doomed_since IS NOT NULL;
        -- The shards were just written and hashed afresh over whatever was there: blocks of any object
        -- found missing or corrupt at those addresses are whole again (uploading the same content repairs).
        UPDATE object_blocks b SET state = 'ok' FROM unnest(p_shard_spaces, p_shard_hashes) AS t(space, hash)
        WHERE b.user_space_id = t.space AND b.file_hash = t.hash AND b.state <> 'ok';

        DELETE FROM object_blocks WHERE object_id = ANY(ids);
        DELETE FROM multipart_parts WHERE object_id = ANY(ids);
        INSERT INTO object_blocks (object_id, index, user_space_id, file_hash, size, state, granule_size, granule_sums)
        SELECT o.object_id, t.idx, t.space, t.hash, t.size, t.state, t.gsize, t.gsums
        FROM unnest(p_block_paths, p_block_indexes, p_block_spaces, p_block_hashes, p_block_sizes, p_block_states, p_block_gsizes, p_block_gsums)
          AS t(path, idx, space, hash, size, state, gsize, gsums)
        JOIN objects o ON o.package_id = p_package AND o.path = t.path;

        RETURN QUERY SELECT * FROM objects WHERE object_id = ANY(ids);
      END
      $fn$`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(
      `DROP FUNCTION IF EXISTS jcs_commit_objects(bigint, bigint, text[], bigint[], text[], jsonb[], bigint[], text[], text[], int[], bigint[], text[], bigint[], text[], int[], bytea[])`,
    );
    await new CommitObjectsFunction1764800000000().up(q);
  }
}
