import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import { mkdirSync } from 'node:fs';
import { SecretBox, operationFailed } from '#common';
import { APP_CONFIG, type AppConfig } from '#config';
import { SECRET_BOX } from '#core';
import type { UserSpaceEntity } from '#db';
import { ShardStore } from '#shard-store';
import { DriverCache, createDriver, type CredentialSpec, type StorageDriver, type StorageSpec } from '#storage';
import { EndpointPolicy } from './endpoint-policy.js';
import { isInside, resolveLocalRoot, tenantDir } from './local-root.js';

/**
 * Turns a user space row into a live storage driver (and shard store). Drivers are cached per space
 * and rebuilt when the space's revision changes. The tenant lives here; the drivers never see it.
 */
@Injectable()
export class SpaceDrivers implements OnModuleDestroy {
  private readonly cache = new DriverCache();
  /** Where S3/OBS endpoints may connect (JCS_ENDPOINT_DENY / JCS_ENDPOINT_ALLOW). */
  readonly endpoints: EndpointPolicy;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(SECRET_BOX) private readonly box: SecretBox,
  ) {
    this.endpoints = new EndpointPolicy({ deny: config.JCS_ENDPOINT_DENY, allow: config.JCS_ENDPOINT_ALLOW });
  }

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
    // Sockets skip `lookup` for a literal address, so a literal endpoint is judged here; names are judged
    // by the sockets' lookup at every connect (a stored space whose name now resolves elsewhere, too).
    if (storage.type !== 'Local' && typeof storage.endpoint === 'string' && this.endpoints.literalPermitted(storage.endpoint) === false)
      throw operationFailed('the endpoint of this user space is not an address the gateway may connect to', 502);
    return createDriver(this.storageSpec(userId, storage), credential, {
      requestTimeoutMs: this.config.JCS_BACKEND_TIMEOUT_MS,
      connectGuard: this.endpoints,
    });
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
