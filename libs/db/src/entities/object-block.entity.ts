import { Column, Entity, PrimaryColumn } from 'typeorm';
import { bigintToNumber } from './transformers.js';

/** One stored piece of an object: block `index` lives as shard `fileHash` in user space `userSpaceId`. */
@Entity({ name: 'object_blocks' })
export class ObjectBlockEntity {
  @PrimaryColumn({ name: 'object_id', type: 'bigint', transformer: bigintToNumber })
  objectId!: number;

  @PrimaryColumn({ type: 'int' })
  index!: number;

  @PrimaryColumn({ name: 'user_space_id', type: 'bigint', transformer: bigintToNumber })
  userSpaceId!: number;

  @Column({ name: 'file_hash', type: 'text' })
  fileHash!: string;

  @Column({ type: 'bigint', transformer: bigintToNumber })
  size!: number;

  /** `ok`, `missing` (never written or found absent: fileHash/size/sums are what it must be) or `corrupt`. */
  @Column({ type: 'text', default: 'ok' })
  state!: BlockState;

  @Column({ name: 'checked_at', type: 'timestamptz', nullable: true })
  checkedAt!: Date | null;

  @Column({ name: 'granule_size', type: 'int', nullable: true })
  granuleSize!: number | null;

  /** CRC-32 per granule, big-endian uint32s (#redundancy's GranuleSummer). */
  @Column({ name: 'granule_sums', type: 'bytea', nullable: true })
  granuleSums!: Buffer | null;
}

export type BlockState = 'ok' | 'missing' | 'corrupt';
