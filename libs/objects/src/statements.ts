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
 * An objects commit in one statement (the migration CommitObjectsFunction1764800000000 says what it
 * does and why it is a function). No row when the package is missing; SQLSTATE JC001 when a shard
 * is gone (its DETAIL is `space/hash`).
 */
export const COMMIT_OBJECTS: Statement = {
  name: 'objects.commit',
  text: `SELECT object_id, user_id, package_id, path, size, file_hash, redundancy, create_time, update_time
         FROM jcs_commit_objects($1::bigint, $2::bigint, $3::text[], $4::bigint[], $5::text[], $6::jsonb[], $7::bigint[], $8::text[],
                                 $9::text[], $10::int[], $11::bigint[], $12::text[], $13::bigint[],
                                 $14::text[], $15::int[], $16::bytea[])`,
};

export const SHARD_GONE = 'JC001';

/**
 * An object with its blocks and the user spaces holding them, in one statement (one snapshot): the
 * headers and the bytes of a download are of one version, and the spaces need no second trip (the
 * driver cache is keyed by the space's revision, which the row carries).
 */
/**
 * Granule sums up to this many bytes (1024 granules: a 64 MiB block at 64 KiB granules) come with the
 * object; larger ones are fetched by the reader for just the granules a read touches (a 4 KiB read
 * of a 1 GiB object does not pull every block's sums).
 */
const INLINE_SUMS_BYTES = 4096;

/** The blocks of object `o` as the reader wants them (health, granule sizes, inline sums), and their spaces. */
export const BLOCKS_FOR_READ = `(SELECT COALESCE(json_agg(json_build_object('index', b.index, 'userSpaceId', b.user_space_id, 'fileHash', b.file_hash, 'size', b.size,
                                                'state', b.state, 'checkedAt', b.checked_at, 'granuleSize', b.granule_size, 'hasSums', b.granule_sums IS NOT NULL,
                                                'granuleSums', CASE WHEN octet_length(b.granule_sums) <= ${INLINE_SUMS_BYTES} THEN encode(b.granule_sums, 'base64') END)
                              ORDER BY b.index, b.user_space_id), '[]')
     FROM object_blocks b WHERE b.object_id = o.object_id) AS blocks_json,
    (SELECT COALESCE(json_agg(us), '[]') FROM user_spaces us
     WHERE us.user_space_id IN (SELECT b.user_space_id FROM object_blocks b WHERE b.object_id = o.object_id)) AS spaces_json`;

const FOR_READ = `SELECT ${OBJECT_COLUMNS}, ${BLOCKS_FOR_READ}
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
