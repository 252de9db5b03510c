import type { BucketEntity } from './entities/bucket.entity.js';
import type { PackageEntity } from './entities/package.entity.js';
import type { UserSpaceEntity } from './entities/user-space.entity.js';

// Rows of raw SQL (snake_case; bigint as a string, or a number inside json_agg; timestamps as Date, or
// an ISO string inside json_agg) mapped to the entity shapes by hand: what TypeORM's hydration does,
// without its cost on the hot paths.

export function userSpaceFromRow(r: Record<string, any>): UserSpaceEntity {
  return {
    userSpaceId: Number(r.user_space_id),
    userId: Number(r.user_id),
    name: r.name,
    storage: r.storage,
    credentialSealed: r.credential_sealed,
    shardStore: r.shard_store ?? null,
    features: r.features,
    workingDir: r.working_dir,
    revision: Number(r.revision),
    isDefault: Boolean(r.is_default),
    hostRoot: r.host_root ?? null,
    createTime: new Date(r.create_time),
  };
}

export const bucketFromRow = (r: Record<string, any>): BucketEntity => ({
  bucketId: Number(r.bucket_id),
  userId: Number(r.user_id),
  name: r.name,
  createTime: new Date(r.create_time),
});

export const packageFromRow = (r: Record<string, any>): PackageEntity => ({
  packageId: Number(r.package_id),
  userId: Number(r.user_id),
  bucketId: Number(r.bucket_id),
  name: r.name,
  createTime: new Date(r.create_time),
  redundancy: r.redundancy ?? null,
});
