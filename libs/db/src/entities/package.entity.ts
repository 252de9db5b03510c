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

  @CreateDateColumn({ name: 'create_time', type: 'timestamptz' })
  createTime!: Date;
}
