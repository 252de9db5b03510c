import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, type EntityManager } from 'typeorm';
import { assertValidName, dataExists, notFound, rfc3339 } from '#common';
import { BucketEntity, PackageEntity, packageFromRow, sqlOf, type Sql } from '#db';
import { asParentGone } from './transactions.js';

/** Package JSON of spec §4. */
export interface PackageView {
  packageID: number;
  name: string;
  bucketID: number;
  createTime: string;
}

export const toPackageView = (p: PackageEntity): PackageView => ({
  packageID: p.packageId,
  name: p.name,
  bucketID: p.bucketId,
  createTime: rfc3339(p.createTime),
});

/** Packages of one tenant; the tenant's userId is part of every query. */
@Injectable()
export class PackagesService {
  private readonly sql: Sql;

  constructor(@InjectDataSource() private readonly ds: DataSource) {
    this.sql = sqlOf(ds);
  }

  /** Creates a package; `em` lets a caller create it inside its own transaction (imports). */
  async create(userId: number, bucketId: number, name: string, em: EntityManager = this.ds.manager): Promise<PackageView> {
    assertValidName('package', name);
    if (!(await em.exists(BucketEntity, { where: { userId, bucketId } }))) throw notFound(`bucket ${bucketId} not found`);
    const rows: Array<Record<string, unknown>> = await em
      .query(
        `INSERT INTO packages (user_id, bucket_id, name) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING
         RETURNING package_id, user_id, bucket_id, name, create_time`,
        [userId, bucketId, name],
      )
      // The bucket was deleted between the check above and the insert.
      .catch((e: unknown) => {
        throw asParentGone(e, `bucket ${bucketId} not found`);
      });
    if (rows.length === 0) throw dataExists(`package ${JSON.stringify(name)} already exists in bucket ${bucketId}`);
    // The inserted row itself: reading it again could find it gone (its bucket deleted meanwhile: a 500).
    return toPackageView(packageFromRow(rows[0]!));
  }

  async get(userId: number, packageId: number, em: EntityManager = this.ds.manager): Promise<PackageEntity> {
    const p = await em.findOne(PackageEntity, { where: { userId, packageId } });
    if (!p) throw notFound(`package ${packageId} not found`);
    return p;
  }

  async getByFullName(userId: number, bucketName: string, packageName: string): Promise<PackageView> {
    // A hot route (package/get): one prepared statement, the row mapped by hand.
    const [row] = await this.sql.rows(GET_BY_FULL_NAME, [userId, bucketName, packageName]);
    const p = row && packageFromRow(row);
    if (!p) throw notFound(`package ${JSON.stringify(`${bucketName}/${packageName}`)} not found`);
    return toPackageView(p);
  }

  async listBucketPackages(userId: number, bucketId: number): Promise<PackageView[]> {
    if (!(await this.ds.getRepository(BucketEntity).exists({ where: { userId, bucketId } })))
      throw notFound(`bucket ${bucketId} not found`);
    const all = await this.ds.getRepository(PackageEntity).find({ where: { userId, bucketId }, order: { packageId: 'ASC' } });
    return all.map(toPackageView);
  }

  /** Deletes the package; its objects and blocks go by cascade, their shards to the collector. */
  async delete(userId: number, packageId: number): Promise<void> {
    const res = await this.ds.getRepository(PackageEntity).delete({ userId, packageId });
    if (!res.affected) throw notFound(`package ${packageId} not found`);
  }
}

const GET_BY_FULL_NAME = {
  name: 'packages.getByFullName',
  text: `SELECT p.package_id, p.user_id, p.bucket_id, p.name, p.create_time
         FROM packages p JOIN buckets b ON b.bucket_id = p.bucket_id AND b.user_id = p.user_id
         WHERE p.user_id = $1 AND b.name = $2 AND p.name = $3`,
};
