import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';
import { bigintToNumber } from './transformers.js';

@Entity({ name: 'user_spaces' })
export class UserSpaceEntity {
  @PrimaryColumn({ name: 'user_space_id', type: 'bigint', generated: 'identity', generatedIdentity: 'BY DEFAULT', transformer: bigintToNumber })
  userSpaceId!: number;

  @Column({ name: 'user_id', type: 'bigint', transformer: bigintToNumber })
  userId!: number;

  @Column({ type: 'text' })
  name!: string;

  /** The storage description (tagged union by `type`), without secrets. */
  @Column({ type: 'jsonb' })
  storage!: Record<string, unknown>;

  /** The credential JSON sealed with the master key (AES-256-GCM). */
  @Column({ name: 'credential_sealed', type: 'text' })
  credentialSealed!: string;

  @Column({ name: 'shard_store', type: 'jsonb', nullable: true })
  shardStore!: { maxSize: number } | null;

  @Column({ type: 'jsonb' })
  features!: Array<Record<string, unknown>>;

  @Column({ name: 'working_dir', type: 'text' })
  workingDir!: string;

  @Column({ type: 'int' })
  revision!: number;

  /** The space created with the user: the default home of its shards. */
  @Column({ name: 'is_default', type: 'boolean', default: false })
  isDefault!: boolean;

  /** A Local space's real host folder (symlinks resolved); null for S3/OBS and rows not yet filled in. */
  @Column({ name: 'host_root', type: 'text', nullable: true })
  hostRoot!: string | null;

  @CreateDateColumn({ name: 'create_time', type: 'timestamptz' })
  createTime!: Date;
}
