import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';
import { bigintToNumber } from './transformers.js';

/** A part uploaded to an open multipart upload; becomes a block when the upload completes. */
@Entity({ name: 'multipart_parts' })
export class MultipartPartEntity {
  @PrimaryColumn({ name: 'object_id', type: 'bigint', transformer: bigintToNumber })
  objectId!: number;

  @PrimaryColumn({ name: 'part_index', type: 'int' })
  partIndex!: number;

  @Column({ name: 'user_space_id', type: 'bigint', transformer: bigintToNumber })
  userSpaceId!: number;

  @Column({ name: 'file_hash', type: 'text' })
  fileHash!: string;

  @Column({ type: 'bigint', transformer: bigintToNumber })
  size!: number;

  @CreateDateColumn({ name: 'create_time', type: 'timestamptz' })
  createTime!: Date;
}
