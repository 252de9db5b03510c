import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, In } from 'typeorm';
import { operationFailed } from '#common';
import { UserSpaceEntity } from '#db';

/** Looks up user spaces for the object paths: where new shards go, where stored ones live. */
@Injectable()
export class SpacesService {
  constructor(@InjectDataSource() private readonly ds: DataSource) {}

  /**
   * The space new shards go to: `affinity` when it is one of the tenant's spaces with a shard store,
   * else the tenant's default space (spec §5: an unknown or foreign affinity is ignored).
   */
  async uploadTarget(userId: number, affinity?: number): Promise<UserSpaceEntity> {
    const repo = this.ds.getRepository(UserSpaceEntity);
    if (affinity !== undefined) {
      const preferred = await repo.findOne({ where: { userId, userSpaceId: affinity } });
      if (preferred?.shardStore) return preferred;
    }
    const fallback = await repo.findOne({ where: { userId, isDefault: true } });
    if (!fallback) throw operationFailed(`user ${userId} has no default user space`);
    return fallback;
  }

  /** The spaces holding an object's blocks (the object's tenant was checked by the caller). */
  async byIds(ids: number[]): Promise<Map<number, UserSpaceEntity>> {
    const unique = [...new Set(ids)];
    const rows = unique.length ? await this.ds.getRepository(UserSpaceEntity).find({ where: { userSpaceId: In(unique) } }) : [];
    return new Map(rows.map((s) => [s.userSpaceId, s]));
  }
}
