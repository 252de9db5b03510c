import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, type EntityManager } from 'typeorm';
import { assertValidName, dataExists, notFound, rfc3339 } from '#common';
import { BucketEntity, PackageEntity, packageFromRow, sqlOf, type Sql } from '#db';
import { RedundancyJobs, parsePolicy } from '#redundancy';
import { asParentGone } from './transactions.js';

/** Package JSON of spec §4. */
export interface PackageView {
  packageID: number;
  name: string;
  bucketID: number;
  createTime: string;
  /** Ours (issue 9): the package's own redundancy policy, or null when it follows JCS_DEFAULT_REDUNDANCY. */
  redundancy: Record<string, unknown> | null;
}

export const toPackageView = (p: PackageEntity): PackageView => ({
  packageID: p.packageId,
  name: p.name,
  bucketID: p.bucketId,
  createTime: rfc3339(p.createTime),
  redundancy: p.redundancy ?? null,
});

/** Packages of one tenant; the tenant's userId is part of every query. */
@Injectable()
export class PackagesService {
  private readonly sql: Sql;

  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    private readonly jobs: RedundancyJobs,
  ) {
    this.sql = sqlOf(ds);
  }

  /**
   * Creates a package; `em` lets a caller create it inside its own transaction (imports). `redundancy`
   * (untrusted JSON, checked by parsePolicy; undefined or null = the default) is the package's policy.
   */
  async create(userId: number, bucketId: number, name: string, em: EntityManager = this.ds.manager, redundancy?: unknown): Promise<PackageView> {
    assertValidName('package', name);
    const policy = redundancy === undefined || redundancy === null ? null : parsePolicy(redundancy);
    if (!(await em.exists(BucketEntity, { where: { userId, bucketId } }))) throw notFound(`bucket ${bucketId} not found`);
    const rows: Array<Record<string, unknown>> = await em
      .query(
        `INSERT INTO packages (user_id, bucket_id, name, redundancy) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING
         RETURNING package_id, user_id, bucket_id, name, create_time, redundancy`,
        [userId, bucketId, name, policy === null ? null : JSON.stringify(policy)],
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

  /**
   * `package/setRedundancy`: sets (null: clears, back to the default) the package's policy and queues
   * the conversion of its objects (the worker re-encodes those not stored as the policy says).
   */
  async setRedundancy(userId: number, packageId: number, redundancy: unknown): Promise<PackageView> {
    const policy = redundancy === undefined || redundancy === null ? null : parsePolicy(redundancy);
    const rows = await this.sql.rows(SET_REDUNDANCY, [userId, packageId, policy === null ? null : JSON.stringify(policy)]);
    if (rows.length === 0) throw notFound(`package ${packageId} not found`);
    await this.jobs.queueConvert(userId, { packageId });
    return toPackageView(packageFromRow(rows[0]!));
  }

  /** Deletes the package; its objects and blocks go by cascade, their shards to the collector. */
  async delete(userId: number, packageId: number): Promise<void> {
    const res = await this.ds.getRepository(PackageEntity).delete({ userId, packageId });
    if (!res.affected) throw notFound(`package ${packageId} not found`);
  }
}

const SET_REDUNDANCY = {
  name: 'packages.setRedundancy',
  text: `UPDATE packages SET redundancy = $3::jsonb WHERE user_id = $1 AND package_id = $2
         RETURNING package_id, user_id, bucket_id, name, create_time, redundancy`,
};

const GET_BY_FULL_NAME = {
  name: 'packages.getByFullName',
  text: `SELECT p.package_id, p.user_id, p.bucket_id, p.name, p.create_time, p.redundancy
         FROM packages p JOIN buckets b ON b.bucket_id = p.bucket_id AND b.user_id = p.user_id
         WHERE p.user_id = $1 AND b.name = $2 AND p.name = $3`,
};
