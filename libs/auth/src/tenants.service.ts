import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, IsNull, type EntityManager } from 'typeorm';
import { SECRET_BOX } from '#core';
import { SecretBox, dataExists, notFound, badArgument, rfc3339 } from '#common';
import { APP_CONFIG, type AppConfig } from '#config';
import { AccessKeyEntity, UserEntity, UserSpaceEntity } from '#db';
import { AccessKeyCache, type LiveKey } from './access-key-cache.js';
import { newAccessKeyId, newSecretKey } from './keys.js';

export interface CreatedUser {
  userID: number;
  name: string;
  accessKey: string;
  secretKey: string;
}

export interface IssuedKey {
  userID: number;
  accessKey: string;
  secretKey: string;
}

/** Tenants (users) and their access keys. Secrets are sealed with the master key at rest. */
@Injectable()
export class TenantsService {
  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    @Inject(SECRET_BOX) private readonly box: SecretBox,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly keyCache: AccessKeyCache,
  ) {}

  /** Creates a user, its first access key and its default Local user space, in one transaction. */
  async createUser(name: string): Promise<CreatedUser> {
    if (typeof name !== 'string' || name.trim() === '' || Buffer.byteLength(name) > 255)
      throw badArgument('user name must be 1 to 255 bytes');
    return this.ds.transaction(async (em) => {
      if (await em.exists(UserEntity, { where: { name } })) throw dataExists(`user ${JSON.stringify(name)} already exists`);
      const user = await em.save(em.create(UserEntity, { name }));
      await this.createDefaultSpace(em, user.userId);
      const key = await this.issueKey(em, user.userId);
      return { userID: user.userId, name: user.name, accessKey: key.accessKey, secretKey: key.secretKey };
    });
  }

  async listUsers(): Promise<Array<{ userID: number; name: string; createTime: string; accessKeys: string[] }>> {
    const users = await this.ds.getRepository(UserEntity).find({ order: { userId: 'ASC' } });
    const keys = await this.ds.getRepository(AccessKeyEntity).find({ where: { revokeTime: IsNull() } });
    return users.map((u) => ({
      userID: u.userId,
      name: u.name,
      createTime: rfc3339(u.createTime),
      accessKeys: keys.filter((k) => k.userId === u.userId).map((k) => k.accessKeyId),
    }));
  }

  async countUsers(): Promise<number> {
    return this.ds.getRepository(UserEntity).count();
  }

  async createKey(userId: number): Promise<IssuedKey> {
    return this.ds.transaction(async (em) => {
      if (!(await em.exists(UserEntity, { where: { userId } }))) throw notFound(`user ${userId} not found`);
      return this.issueKey(em, userId);
    });
  }

  async revokeKey(accessKeyId: string): Promise<void> {
    const res = await this.ds
      .createQueryBuilder()
      .update(AccessKeyEntity)
      .set({ revokeTime: () => 'now()' })
      .where('access_key_id = :accessKeyId AND revoke_time IS NULL', { accessKeyId })
      .execute();
    // The trigger notifies every gateway; this one need not wait for its own notification.
    this.keyCache.evict(accessKeyId);
    if (!res.affected) throw notFound(`access key ${accessKeyId} not found or already revoked`);
  }

  /**
   * The owner and plain secret of a live access key, or null (unknown or revoked). Asked by every
   * signed request: served from AccessKeyCache when it can be, else one indexed statement.
   */
  async lookupKey(accessKeyId: string): Promise<LiveKey | null> {
    const hit = this.keyCache.get(accessKeyId);
    if (hit) return hit;
    const ticket = this.keyCache.ticket();
    const rows: Array<{ user_id: string; secret_sealed: string }> = await this.ds.query(
      'SELECT user_id, secret_sealed FROM access_keys WHERE access_key_id = $1 AND revoke_time IS NULL',
      [accessKeyId],
    );
    if (rows.length === 0) return null;
    const key = { userId: Number(rows[0]!.user_id), secret: this.box.open(rows[0]!.secret_sealed) };
    this.keyCache.set(accessKeyId, key, ticket);
    return key;
  }

  private async issueKey(em: EntityManager, userId: number): Promise<IssuedKey> {
    const accessKey = newAccessKeyId();
    const secretKey = newSecretKey();
    await em.insert(AccessKeyEntity, { accessKeyId: accessKey, userId, secretSealed: this.box.seal(secretKey) });
    return { userID: userId, accessKey, secretKey };
  }

  /** The tenant's own Local space: rootDir absent = JCS_DATA_DIR/tenants/<userID>/, with a shard store. */
  private async createDefaultSpace(em: EntityManager, userId: number): Promise<void> {
    await em.insert(UserSpaceEntity, {
      userId,
      name: 'default',
      storage: { type: 'Local' },
      credentialSealed: this.box.seal(JSON.stringify({ type: 'Local' })),
      shardStore: { maxSize: this.config.JCS_SHARD_STORE_MAX_SIZE },
      features: [],
      workingDir: '',
      revision: 1,
      isDefault: true,
    });
  }
}
