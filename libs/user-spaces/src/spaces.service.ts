import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, In } from 'typeorm';
import { notFound, operationFailed } from '#common';
import { UserSpaceEntity, sqlOf, userSpaceFromRow, type Statement } from '#db';

/**
 * The package check (skipped when $2 is null) and the upload target space of uploadTarget, in one
 * statement. One row always; the space columns are null when the tenant has no such space.
 */
const UPLOAD_TARGET: Statement = {
  name: 'spaces.uploadTarget',
  text: `SELECT ($2::bigint IS NULL OR EXISTS (SELECT 1 FROM packages WHERE user_id = $1 AND package_id = $2)) AS package_found,
                (SELECT p.redundancy FROM packages p WHERE p.user_id = $1 AND p.package_id = $2) AS package_redundancy, s.*
         FROM (SELECT 1) one LEFT JOIN LATERAL (
           SELECT us.* FROM user_spaces us
           WHERE us.user_id = $1
             AND (us.is_default OR (us.user_space_id = $3::bigint AND us.shard_store IS NOT NULL AND us.shard_store <> 'null'::jsonb))
           ORDER BY us.is_default LIMIT 1) s ON true`,
};

/** The tenant's spaces with a shard store, with their used bytes (space_usage), for block placement. */
const CANDIDATES: Statement = {
  name: 'spaces.placementCandidates',
  text: `SELECT us.*, COALESCE(u.used_bytes, 0) AS used_bytes
         FROM user_spaces us LEFT JOIN space_usage u ON u.user_space_id = us.user_space_id
         WHERE us.user_id = $1 AND us.shard_store IS NOT NULL AND us.shard_store <> 'null'::jsonb
         ORDER BY us.user_space_id`,
};

/** A space that may take blocks, with what placement needs to know of it. */
export interface SpaceWithUsage {
  space: UserSpaceEntity;
  usedBytes: number;
  maxSize: number;
}

/** Looks up user spaces for the object paths: where new shards go, where stored ones live. */
@Injectable()
export class SpacesService {
  constructor(@InjectDataSource() private readonly ds: DataSource) {}

  /**
   * The space new shards go to: `affinity` when it is one of the tenant's spaces with a shard store,
   * else the tenant's default space (spec §5: an unknown or foreign affinity is ignored). With
   * `packageId`, the same statement also checks that the tenant has that package (an upload's two
   * questions in one round trip): DataNotFound when not.
   */
  async uploadTarget(userId: number, affinity?: number, packageId?: number): Promise<UserSpaceEntity> {
    return (await this.uploadTargetOfPackage(userId, affinity, packageId)).space;
  }

  /** `uploadTarget`, plus the package's own redundancy policy (raw JSON; null = the default), same statement. */
  async uploadTargetOfPackage(userId: number, affinity?: number, packageId?: number): Promise<{ space: UserSpaceEntity; packageRedundancy: unknown }> {
    const [row] = await sqlOf(this.ds).rows(UPLOAD_TARGET, [userId, packageId ?? null, affinity ?? null]);
    if (!row!.package_found) throw notFound(`package ${packageId} not found`);
    if (row!.user_space_id === null) throw operationFailed(`user ${userId} has no default user space`);
    return { space: userSpaceFromRow(row!), packageRedundancy: row!.package_redundancy ?? null };
  }

  /** The tenant's spaces with a shard store and their usage, by userSpaceId. */
  async placementCandidates(userId: number): Promise<SpaceWithUsage[]> {
    const rows = await sqlOf(this.ds).rows(CANDIDATES, [userId]);
    return rows.map((r) => {
      const space = userSpaceFromRow(r);
      return { space, usedBytes: Number(r.used_bytes), maxSize: Number((space.shardStore as { maxSize?: number } | null)?.maxSize ?? 0) };
    });
  }

  /** The spaces holding an object's blocks (the object's tenant was checked by the caller). */
  async byIds(ids: number[]): Promise<Map<number, UserSpaceEntity>> {
    const unique = [...new Set(ids)];
    const rows = unique.length ? await this.ds.getRepository(UserSpaceEntity).find({ where: { userSpaceId: In(unique) } }) : [];
    return new Map(rows.map((s) => [s.userSpaceId, s]));
  }
}
