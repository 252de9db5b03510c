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
  text: `SELECT ($2::bigint IS NULL OR EXISTS (SELECT 1 FROM packages WHERE user_id = $1 AND package_id = $2)) AS package_found, s.*
         FROM (SELECT 1) one LEFT JOIN LATERAL (
           SELECT us.* FROM user_spaces us
           WHERE us.user_id = $1
             AND (us.is_default OR (us.user_space_id = $3::bigint AND us.shard_store IS NOT NULL AND us.shard_store <> 'null'::jsonb))
           ORDER BY us.is_default LIMIT 1) s ON true`,
};

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
    const [row] = await sqlOf(this.ds).rows(UPLOAD_TARGET, [userId, packageId ?? null, affinity ?? null]);
    if (!row!.package_found) throw notFound(`package ${packageId} not found`);
    if (row!.user_space_id === null) throw operationFailed(`user ${userId} has no default user space`);
    return userSpaceFromRow(row!);
  }

  /** The spaces holding an object's blocks (the object's tenant was checked by the caller). */
  async byIds(ids: number[]): Promise<Map<number, UserSpaceEntity>> {
    const unique = [...new Set(ids)];
    const rows = unique.length ? await this.ds.getRepository(UserSpaceEntity).find({ where: { userSpaceId: In(unique) } }) : [];
    return new Map(rows.map((s) => [s.userSpaceId, s]));
  }
}
