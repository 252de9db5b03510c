import { Column, Entity, PrimaryColumn } from 'typeorm';
import { bigintToNumber } from './transformers.js';

/**
 * A shard file known to exist (or about to exist) in a user space's shard store. `touchTime` is set
 * before the file is renamed into place and whenever an upload reuses it, so the collector never
 * removes a shard an upload in flight is about to reference.
 */
@Entity({ name: 'shards' })
export class ShardEntity {
  @PrimaryColumn({ name: 'user_space_id', type: 'bigint', transformer: bigintToNumber })
  userSpaceId!: number;

  @PrimaryColumn({ name: 'file_hash', type: 'text' })
  fileHash!: string;

  @Column({ type: 'bigint', transformer: bigintToNumber })
  size!: number;

  @Column({ name: 'touch_time', type: 'timestamptz' })
  touchTime!: Date;

  /** Since when the collector has found it unreferenced (see the gc-marks migration). */
  @Column({ name: 'doomed_since', type: 'timestamptz', nullable: true })
  doomedSince!: Date | null;

  /** Set while the collector deletes its file; uploads wait rather than reuse it. */
  @Column({ name: 'deleting_since', type: 'timestamptz', nullable: true })
  deletingSince!: Date | null;
}
