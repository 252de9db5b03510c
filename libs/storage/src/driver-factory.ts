import { badArgument } from '#common';
import type { StorageDriver } from './driver.js';
import type { ConnectGuard } from './guarded-agents.js';
import { LocalDriver } from './local-driver.js';
import { ObsDriver } from './obs-driver.js';
import { S3Driver } from './s3-driver.js';

/** Where a storage space lives. */
export type StorageSpec =
  | { type: 'Local'; rootDir: string /* absolute, already validated by the caller */ }
  | { type: 'S3'; region: string; endpoint: string; bucket: string; forcePathStyle?: boolean }
  | { type: 'OBS'; region: string; endpoint: string; bucket: string; projectID: string };

/** How to authenticate to it; the type must match the storage's. */
export type CredentialSpec =
  | { type: 'Local' }
  | { type: 'S3' | 'OBS'; accessKeyId: string; secretAccessKey: string };

export interface DriverOptions {
  requestTimeoutMs: number;
  /** Judges every connection of remote drivers (where the gateway's endpoint policy is enforced). */
  connectGuard?: ConnectGuard;
}

/** Builds the driver for a storage spec (a tagged union; an unknown or mismatched type is a BadArgument). */
export function createDriver(storage: StorageSpec, credential: CredentialSpec, opts: DriverOptions): StorageDriver {
  const type = (storage as { type?: unknown })?.type;
  if (credential?.type !== type)
    throw badArgument(`credential type ${JSON.stringify(credential?.type)} does not match storage type ${JSON.stringify(type)}`);
  switch (storage.type) {
    case 'Local':
      return new LocalDriver({ rootDir: storage.rootDir });
    case 'S3': {
      const cred = credential as Extract<CredentialSpec, { type: 'S3' | 'OBS' }>;
      return new S3Driver({
        endpoint: storage.endpoint || undefined,
        region: storage.region,
        bucket: storage.bucket,
        forcePathStyle: storage.forcePathStyle,
        accessKeyId: cred.accessKeyId,
        secretAccessKey: cred.secretAccessKey,
        requestTimeoutMs: opts.requestTimeoutMs,
        connectGuard: opts.connectGuard,
      });
    }
    case 'OBS': {
      // projectID matters for bucket management in some regions, not for object operations.
      const cred = credential as Extract<CredentialSpec, { type: 'S3' | 'OBS' }>;
      return new ObsDriver({
        endpoint: storage.endpoint,
        region: storage.region,
        bucket: storage.bucket,
        accessKeyId: cred.accessKeyId,
        secretAccessKey: cred.secretAccessKey,
        requestTimeoutMs: opts.requestTimeoutMs,
        connectGuard: opts.connectGuard,
      });
    }
    default:
      throw badArgument(`unknown storage type ${JSON.stringify(type)}`);
  }
}

/**
 * One driver per cache key (e.g. a storage id), rebuilt when the key's revision (e.g. its
 * `updatedAt`) changes. The replaced driver is closed in the background: its close() waits for the
 * operations already running on it, so a configuration change does not cut transfers short.
 */
export class DriverCache {
  private readonly entries = new Map<string, { revision: number; driver: StorageDriver }>();

  get(cacheKey: string, revision: number, build: () => StorageDriver): StorageDriver {
    const cached = this.entries.get(cacheKey);
    if (cached && cached.revision === revision) return cached.driver;
    const driver = build();
    this.entries.set(cacheKey, { revision, driver });
    if (cached) closeQuietly(cached.driver);
    return driver;
  }

  /** Forgets (and closes) the driver of a removed storage. */
  evict(cacheKey: string): void {
    const cached = this.entries.get(cacheKey);
    this.entries.delete(cacheKey);
    if (cached) closeQuietly(cached.driver);
  }

  async closeAll(): Promise<void> {
    const drivers = [...this.entries.values()].map((e) => e.driver);
    this.entries.clear();
    await Promise.all(drivers.map((d) => d.close?.().catch(() => undefined)));
  }
}

function closeQuietly(driver: StorageDriver): void {
  void driver.close?.().catch(() => undefined);
}
