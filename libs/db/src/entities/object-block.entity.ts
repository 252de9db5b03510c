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
}
