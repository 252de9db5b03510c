import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';
import { bigintToNumber } from './transformers.js';

@Entity({ name: 'packages' })
export class PackageEntity {
  @PrimaryColumn({ name: 'package_id', type: 'bigint', generated: 'identity', generatedIdentity: 'BY DEFAULT', transformer: bigintToNumber })
  packageId!: number;

  @Column({ name: 'user_id', type: 'bigint', transformer: bigintToNumber })
  userId!: number;

  @Column({ name: 'bucket_id', type: 'bigint', transformer: bigintToNumber })
  bucketId!: number;

  @Column({ type: 'text' })
  name!: string;

  /** The package's own redundancy policy (#redundancy's parsePolicy JSON); null = JCS_DEFAULT_REDUNDANCY. */
  @Column({ type: 'jsonb', nullable: true })
  redundancy!: Record<string, unknown> | null;

  @CreateDateColumn({ name: 'create_time', type: 'timestamptz' })
  createTime!: Date;
}
