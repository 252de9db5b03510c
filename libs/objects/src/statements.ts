import type { Statement } from '#db';

// The statements of the hot object routes, each one round trip, sent as named prepared statements
// (#db's Sql). Every one carries the tenant's user_id.

const OBJECT_COLUMNS = 'o.object_id, o.user_id, o.package_id, o.path, o.size, o.file_hash, o.redundancy, o.create_time, o.update_time';

/**
 * A missing package and a foreign one answer alike (both false). Only evaluated when the object
 * itself was not found: a found object proves its package.
 */
const packageFound = (objectIdColumn: string) =>
  `CASE WHEN ${objectIdColumn} IS NULL THEN EXISTS (SELECT 1 FROM packages WHERE user_id = $1 AND package_id = $2) ELSE true END AS package_found`;

/**
 * The package check and the space new shards go to (SpacesService.uploadTarget's rule: `affinity`
 * ($3, may be null) when it is one of the tenant's spaces with a shard store, else the tenant's
 * default space), in one statement. One row always; the space columns are null when there is none.
 */
export const UPLOAD_TARGET: Statement = {
  name: 'objects.uploadTarget',
  text: `SELECT EXISTS (SELECT 1 FROM packages WHERE user_id = $1 AND package_id = $2) AS package_found, s.*
         FROM (SELECT 1) one LEFT JOIN LATERAL (
           SELECT us.* FROM user_spaces us
           WHERE us.user_id = $1
             AND (us.is_default OR (us.user_space_id = $3::bigint AND us.shard_store IS NOT NULL AND us.shard_store <> 'null'::jsonb))
           ORDER BY us.is_default LIMIT 1) s ON true`,
};

/**
 * The first statement of an objects commit: holds the package FOR SHARE against a concurrent delete
 * and upserts the objects (in the order of the arrays, which the caller sorts by path bytes: every
 * writer of several objects locks them in that order). No row when the package is missing.
 */
export const UPSERT_OBJECTS: Statement = {
  name: 'objects.upsert',
  text: `WITH pkg AS (SELECT 1 FROM packages WHERE user_id = $1 AND package_id = $2 FOR SHARE)
         INSERT INTO objects (user_id, package_id, path, size, file_hash, redundancy, create_time, update_time)
         SELECT $1, $2, t.path, t.size, t.hash, t.red, now(), now()
         FROM unnest($3::text[], $4::bigint[], $5::text[], $6::jsonb[]) AS t(path, size, hash, red)
         WHERE EXISTS (SELECT 1 FROM pkg)
         ON CONFLICT (package_id, path) DO UPDATE
           SET size = EXCLUDED.size, file_hash = EXCLUDED.file_hash, redundancy = EXCLUDED.redundancy, update_time = EXCLUDED.update_time
         RETURNING object_id, user_id, package_id, path, size, file_hash, redundancy, create_time, update_time`,
};

/**
 * The second statement of an objects commit, once the object rows are locked (a statement of its
 * own, so its snapshot sees the blocks another writer of the same object committed while this one
 * waited for the row): ShardRegistry.reference's protocol (the shard rows KEY SHARE locked in
 * sortedShardKeys order, $1/$2, and their doomed mark cleared) and, only when all $3 shards are
 * present and not being deleted, the old blocks and parts of the objects ($4) replaced by the new
 * blocks ($5–$9). `ok` false: nothing was written; `live` names the shards that are fine.
 */
export const REPLACE_BLOCKS: Statement = {
  name: 'objects.replaceBlocks',
  text: `WITH sh AS (
           SELECT s.user_space_id, s.file_hash, s.doomed_since IS NOT NULL AS doomed, s.deleting_since IS NOT NULL AS deleting
           FROM shards s JOIN unnest($1::bigint[], $2::text[]) AS t(space, hash) ON s.user_space_id = t.space AND s.file_hash = t.hash
           ORDER BY s.user_space_id, s.file_hash FOR KEY SHARE OF s),
         ok AS (SELECT count(*) FILTER (WHERE NOT deleting) = $3 AS ok FROM sh),
         undoom AS (
           UPDATE shards s SET doomed_since = NULL FROM sh
           WHERE (SELECT ok FROM ok) AND sh.doomed AND s.user_space_id = sh.user_space_id AND s.file_hash = sh.file_hash RETURNING 1),
         old_blocks AS (DELETE FROM object_blocks WHERE (SELECT ok FROM ok) AND object_id = ANY($4::bigint[]) RETURNING 1),
         old_parts AS (DELETE FROM multipart_parts WHERE (SELECT ok FROM ok) AND object_id = ANY($4::bigint[]) RETURNING 1),
         -- The count makes the old blocks go first: a new block may have an old one's key.
         ins AS (
           INSERT INTO object_blocks (object_id, index, user_space_id, file_hash, size)
           SELECT * FROM unnest($5::bigint[], $6::int[], $7::bigint[], $8::text[], $9::bigint[])
           WHERE (SELECT ok FROM ok) AND (SELECT count(*) FROM old_blocks) >= 0
           RETURNING 1)
         SELECT (SELECT ok FROM ok) AS ok,
                (SELECT count(*) FROM ins) + (SELECT count(*) FROM old_parts) + (SELECT count(*) FROM undoom) AS written,
                (SELECT COALESCE(json_agg(json_build_object('s', user_space_id, 'h', file_hash)), '[]') FROM sh WHERE NOT deleting) AS live`,
};

/**
 * An object with its blocks and the user spaces holding them, in one statement (one snapshot): the
 * headers and the bytes of a download are of one version, and the spaces need no second trip (the
 * driver cache is keyed by the space's revision, which the row carries).
 */
const FOR_READ = `SELECT ${OBJECT_COLUMNS},
    (SELECT COALESCE(json_agg(json_build_object('index', b.index, 'userSpaceId', b.user_space_id, 'fileHash', b.file_hash, 'size', b.size)
                              ORDER BY b.index, b.user_space_id), '[]')
     FROM object_blocks b WHERE b.object_id = o.object_id) AS blocks_json,
    (SELECT COALESCE(json_agg(us), '[]') FROM user_spaces us
     WHERE us.user_space_id IN (SELECT b.user_space_id FROM object_blocks b WHERE b.object_id = o.object_id)) AS spaces_json
  FROM objects o`;

export const READ_BY_ID: Statement = {
  name: 'objects.readById',
  text: `${FOR_READ} WHERE o.user_id = $1 AND o.object_id = $2`,
};

/** One row always: the object (null columns when missing) and whether the package exists. */
export const READ_BY_PATH: Statement = {
  name: 'objects.readByPath',
  text: `SELECT ${packageFound('x.object_id')}, x.*
         FROM (SELECT 1) one LEFT JOIN LATERAL (${FOR_READ} WHERE o.user_id = $1 AND o.package_id = $2 AND o.path = $3) x ON true`,
};

/** Exact listByPath: one row always, as READ_BY_PATH, without the blocks. */
export const LIST_EXACT: Statement = {
  name: 'objects.listExact',
  text: `SELECT ${packageFound('o.object_id')}, ${OBJECT_COLUMNS}
         FROM (SELECT 1) one LEFT JOIN objects o ON o.user_id = $1 AND o.package_id = $2 AND o.path = $3`,
};

export const PACKAGE_EXISTS: Statement = {
  name: 'objects.packageExists',
  text: 'SELECT 1 FROM packages WHERE user_id = $1 AND package_id = $2',
};
