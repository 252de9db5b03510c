import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';
import { bigintToNumber } from './transformers.js';

@Entity({ name: 'access_keys' })
export class AccessKeyEntity {
  @PrimaryColumn({ name: 'access_key_id', type: 'text' })
  accessKeyId!: string;

  @Column({ name: 'user_id', type: 'bigint', transformer: bigintToNumber })
  userId!: number;

  /** The secret, sealed with the master key (SigV4 needs the plain secret to verify). */
  @Column({ name: 'secret_sealed', type: 'text' })
  secretSealed!: string;

  @CreateDateColumn({ name: 'create_time', type: 'timestamptz' })
  createTime!: Date;

  @Column({ name: 'revoke_time', type: 'timestamptz', nullable: true })
  revokeTime!: Date | null;
}
