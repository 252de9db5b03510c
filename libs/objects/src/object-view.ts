import { rfc3339 } from '#common';
import type { ObjectEntity, Redundancy } from '#db';

/** The redundancy types of spec §5: the only ones a client ever sees. */
export type WireRedundancy = Exclude<Redundancy, { type: 'segment' }>;

/** Object JSON of spec §5; `size` is a string of decimal digits. */
export interface ObjectView {
  objectID: number;
  packageID: number;
  path: string;
  size: string;
  fileHash: string;
  redundancy: WireRedundancy;
  createTime: string;
  updateTime: string;
}

export const toObjectView = (o: ObjectEntity): ObjectView => ({
  objectID: o.objectId,
  packageID: o.packageId,
  path: o.path,
  size: String(o.size),
  fileHash: o.fileHash,
  redundancy: wireRedundancy(o.redundancy),
  createTime: rfc3339(o.createTime),
  updateTime: rfc3339(o.updateTime),
});

/**
 * How the blocks are laid out is internal: a completed multipart upload keeps its parts as `segment`
 * blocks (one copy each, nothing copied), which is `none` in the contract's terms (one copy, no
 * redundancy). Every route that shows an object goes through here.
 */
export function wireRedundancy(r: Redundancy): WireRedundancy {
  return r.type === 'segment' ? { type: 'none' } : r;
}

/** A row as returned by raw SQL (snake_case, bigint as string) → entity shape. */
export function objectFromRow(r: Record<string, any>): ObjectEntity {
  return {
    objectId: Number(r.object_id),
    userId: Number(r.user_id),
    packageId: Number(r.package_id),
    path: r.path,
    size: Number(r.size),
    fileHash: r.file_hash,
    redundancy: r.redundancy,
    createTime: new Date(r.create_time),
    updateTime: new Date(r.update_time),
  };
}
