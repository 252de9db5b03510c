import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { assertValidName, dataExists, notFound, rfc3339 } from '#common';
import { BucketEntity, bucketFromRow, sqlOf, type Sql } from '#db';

/** Bucket JSON of spec §3. */
export interface BucketView {
  bucketID: number;
  name: string;
  createTime: string;
}

export const toBucketView = (b: BucketEntity): BucketView => ({
  bucketID: b.bucketId,
  name: b.name,
  createTime: rfc3339(b.createTime),
});

/** Buckets of one tenant: every method takes the tenant's userId and every query filters on it. */
@Injectable()
export class BucketsService {
  private readonly sql: Sql;

  constructor(@InjectDataSource() private readonly ds: DataSource) {
    this.sql = sqlOf(ds);
  }

  async create(userId: number, name: string): Promise<BucketView> {
    assertValidName('bucket', name);
    const res = await this.ds
      .createQueryBuilder()
      .insert()
      .into(BucketEntity)
      .values({ userId, name })
      .orIgnore()
      .returning(['bucket_id'])
      .execute();
    if (res.raw.length === 0) throw dataExists(`bucket ${JSON.stringify(name)} already exists`);
    return toBucketView(await this.get(userId, Number(res.raw[0].bucket_id)));
  }

  async get(userId: number, bucketId: number): Promise<BucketEntity> {
    const b = await this.ds.getRepository(BucketEntity).findOne({ where: { userId, bucketId } });
    if (!b) throw notFound(`bucket ${bucketId} not found`);
    return b;
  }

  async getByName(userId: number, name: string): Promise<BucketView> {
    const b = await this.ds.getRepository(BucketEntity).findOne({ where: { userId, name } });
    if (!b) throw notFound(`bucket ${JSON.stringify(name)} not found`);
    return toBucketView(b);
  }

  async listAll(userId: number): Promise<BucketView[]> {
    // A hot route: one prepared statement, rows mapped by hand.
    const rows = await this.sql.rows(LIST_ALL, [userId]);
    return rows.map((r) => toBucketView(bucketFromRow(r)));
  }

  /** Deletes the bucket; its packages, objects and blocks go by cascade, their shards to the collector. */
  async delete(userId: number, bucketId: number): Promise<void> {
    const res = await this.ds.getRepository(BucketEntity).delete({ userId, bucketId });
    if (!res.affected) throw notFound(`bucket ${bucketId} not found`);
  }
}

const LIST_ALL = {
  name: 'buckets.listAll',
  text: 'SELECT bucket_id, user_id, name, create_time FROM buckets WHERE user_id = $1 ORDER BY bucket_id',
};
