import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import { mkdirSync } from 'node:fs';
import { SecretBox } from '#common';
import { APP_CONFIG, type AppConfig } from '#config';
import { SECRET_BOX } from '#core';
import type { UserSpaceEntity } from '#db';
import { ShardStore } from '#shard-store';
import { DriverCache, createDriver, type CredentialSpec, type StorageDriver, type StorageSpec } from '#storage';
import { isInside, resolveLocalRoot, tenantDir } from './local-root.js';

/**
 * Turns a user space row into a live storage driver (and shard store). Drivers are cached per space
 * and rebuilt when the space's revision changes. The tenant lives here; the drivers never see it.
 */
@Injectable()
export class SpaceDrivers implements OnModuleDestroy {
  private readonly cache = new DriverCache();

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(SECRET_BOX) private readonly box: SecretBox,
  ) {}

  /** The storage spec a driver is built from: Local roots resolved and confined here. */
  storageSpec(userId: number, storage: Record<string, unknown>): StorageSpec {
    if (storage.type === 'Local') {
      const rootDir = resolveLocalRoot(storage.rootDir, {
        dataDir: this.config.JCS_DATA_DIR,
        userId,
        allowedRoots: this.config.JCS_LOCAL_ROOTS,
      });
      // The tenant's own directory is the gateway's to create; an operator-allowed root must exist.
      if (isInside(tenantDir(this.config.JCS_DATA_DIR, userId), rootDir)) mkdirSync(rootDir, { recursive: true, mode: 0o700 });
      return { type: 'Local', rootDir };
    }
    return storage as unknown as StorageSpec;
  }

  /** Builds an uncached driver (for `test`, which probes a space that is not saved). */
  build(userId: number, storage: Record<string, unknown>, credential: CredentialSpec): StorageDriver {
    return createDriver(this.storageSpec(userId, storage), credential, { requestTimeoutMs: this.config.JCS_BACKEND_TIMEOUT_MS });
  }

  driverFor(space: UserSpaceEntity): StorageDriver {
    return this.cache.get(String(space.userSpaceId), space.revision, () =>
      this.build(space.userId, space.storage, JSON.parse(this.box.open(space.credentialSealed)) as CredentialSpec),
    );
  }

  shardStoreFor(space: UserSpaceEntity): ShardStore {
    return new ShardStore(this.driverFor(space), space.workingDir);
  }

  async onModuleDestroy(): Promise<void> {
    await this.cache.closeAll?.();
  }
}
