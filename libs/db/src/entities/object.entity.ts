import { Column, Entity, PrimaryColumn } from 'typeorm';
import { bigintToNumber } from './transformers.js';

/** Redundancy of an object's blocks (spec §5), plus `segment` for completed multipart uploads. */
export type Redundancy =
  | { type: 'none' }
  | { type: 'rep'; repCount: number }
  | { type: 'ec'; k: number; n: number; chunkSize: number }
  | { type: 'multipartUpload' }
  | { type: 'segment'; segments: number[] };

@Entity({ name: 'objects' })
export class ObjectEntity {
  @PrimaryColumn({ name: 'object_id', type: 'bigint', generated: 'identity', generatedIdentity: 'BY DEFAULT', transformer: bigintToNumber })
  objectId!: number;

  @Column({ name: 'user_id', type: 'bigint', transformer: bigintToNumber })
  userId!: number;

  @Column({ name: 'package_id', type: 'bigint', transformer: bigintToNumber })
  packageId!: number;

  /** Stored with COLLATE "C": listing order is byte order and prefix scans use the index. */
  @Column({ type: 'text', collation: 'C' })
  path!: string;

  @Column({ type: 'bigint', transformer: bigintToNumber })
  size!: number;

  @Column({ name: 'file_hash', type: 'text' })
  fileHash!: string;

  @Column({ type: 'jsonb' })
  redundancy!: Redundancy;

  @Column({ name: 'create_time', type: 'timestamptz' })
  createTime!: Date;

  @Column({ name: 'update_time', type: 'timestamptz' })
  updateTime!: Date;
}
