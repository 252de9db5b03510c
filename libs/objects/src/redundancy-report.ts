import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { notFound, rfc3339 } from '#common';
import { sqlOf, type Redundancy, type Statement } from '#db';
import { toleratedSpaceLosses, type RedundancyPolicy, type StoredPolicy } from '#redundancy';
import { ObjectsService } from './objects.service.js';

/** `object/blocks` (ours): the block map of an object and how many space losses it survives. */
export interface ObjectBlocksView {
  redundancy: Redundancy;
  blocks: Array<{ index: number; userSpaceID: number; fileHash: string; size: number; state: string; checkedAt: string | null }>;
  toleratedSpaceLosses: number;
}

export interface RedundancyStatusView {
  conforming: number;
  pending: number;
  degraded: number;
  failed: number;
}

/**
 * The objects of a package, each classified once (first match wins):
 *  - failed: fewer good (state ok) distinct blocks than a read needs (ec k, segment all, else 1);
 *  - degraded: readable, but a block is missing or corrupt (a repair is due);
 *  - pending: healthy, but not stored as the package's policy says for its size (a conversion is due);
 *  - conforming: healthy and stored as the policy says (empty objects always: they are stored `none`;
 *    a completed multipart upload (`segment`) conforms to `none` only).
 * Open multipart uploads are not counted. $3 is the effective policy (the package's or the default);
 * no row when the package is not the tenant's.
 */
export const CLASSIFIED_OBJECTS = `
  WITH pol AS (SELECT COALESCE(p.redundancy, $3::jsonb) AS r FROM packages p WHERE p.user_id = $1 AND p.package_id = $2),
  o AS (
    SELECT o.object_id, o.size, o.redundancy, o.update_time,
      (SELECT count(DISTINCT b.index) FROM object_blocks b WHERE b.object_id = o.object_id AND b.state = 'ok') AS good,
      EXISTS (SELECT 1 FROM object_blocks b WHERE b.object_id = o.object_id AND b.state <> 'ok') AS unhealthy,
      CASE WHEN pol.r->>'type' = 'auto'
        THEN CASE WHEN o.size >= (pol.r->>'threshold')::bigint THEN pol.r->'large' ELSE pol.r->'small' END
        ELSE pol.r END AS want
    FROM objects o CROSS JOIN pol
    WHERE o.user_id = $1 AND o.package_id = $2 AND o.redundancy->>'type' <> 'multipartUpload'),
  c AS (
    SELECT o.*, CASE
      WHEN o.good < CASE o.redundancy->>'type' WHEN 'ec' THEN (o.redundancy->>'k')::int
                                               WHEN 'segment' THEN jsonb_array_length(o.redundancy->'segments') ELSE 1 END THEN 'failed'
      WHEN o.unhealthy THEN 'degraded'
      WHEN o.size = 0 OR o.redundancy = o.want OR (o.redundancy->>'type' = 'segment' AND o.want->>'type' = 'none') THEN 'conforming'
      ELSE 'pending' END AS status
    FROM o)`;

const STATUS: Statement = {
  name: 'redundancy.status',
  text: `${CLASSIFIED_OBJECTS}
    SELECT EXISTS (SELECT 1 FROM pol) AS found,
      count(*) FILTER (WHERE status = 'conforming')::int AS conforming, count(*) FILTER (WHERE status = 'pending')::int AS pending,
      count(*) FILTER (WHERE status = 'degraded')::int AS degraded, count(*) FILTER (WHERE status = 'failed')::int AS failed
    FROM c`,
};

@Injectable()
export class RedundancyReport {
  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    private readonly objects: ObjectsService,
  ) {}

  /** The tenant's default policy as JSON for CLASSIFIED_OBJECTS' $3. */
  get defaultPolicyJson(): string {
    return JSON.stringify(this.objects.defaultPolicy satisfies RedundancyPolicy);
  }

  async objectBlocks(userId: number, objectId: number): Promise<ObjectBlocksView> {
    const { object, blocks } = await this.objects.getWithBlocks(userId, objectId);
    const r = object.redundancy;
    const tolerated =
      r.type === 'multipartUpload' ? 0 : toleratedSpaceLosses(r as StoredPolicy | { type: 'segment'; segments: number[] }, blocks);
    return {
      redundancy: r,
      blocks: blocks.map((b) => ({
        index: b.index,
        userSpaceID: b.userSpaceId,
        fileHash: b.fileHash,
        size: b.size,
        state: b.state,
        checkedAt: b.checkedAt ? rfc3339(b.checkedAt) : null,
      })),
      toleratedSpaceLosses: tolerated,
    };
  }

  async packageStatus(userId: number, packageId: number): Promise<RedundancyStatusView> {
    const [row] = await sqlOf(this.ds).rows(STATUS, [userId, packageId, this.defaultPolicyJson]);
    if (!row || !row.found) throw notFound(`package ${packageId} not found`);
    return { conforming: row.conforming, pending: row.pending, degraded: row.degraded, failed: row.failed };
  }
}
