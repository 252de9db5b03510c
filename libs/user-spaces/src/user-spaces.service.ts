import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { SecretBox, badArgument, notFound, operationFailed } from '#common';
import { APP_CONFIG, type AppConfig } from '#config';
import { SECRET_BOX } from '#core';
import { UserSpaceEntity } from '#db';
import type { CredentialSpec } from '#storage';
import { claimLocalRoot } from './local-root-claims.js';
import { realpathExisting, resolveHostRoot, storedLocalRoot } from './local-root.js';
import { probeFailure, probeFailureCategory } from './probe-failure.js';
import { ShardAreas, shardAreasFor } from './shard-areas.js';
import { SpaceDrivers } from './space-drivers.js';
import {
  parseCredential,
  parseFeatures,
  parseName,
  parseShardStore,
  parseStorage,
  parseWorkingDir,
  publicCredential,
} from './space-spec.js';

/** UserSpace JSON of spec §6. */
export interface UserSpaceView {
  userSpaceID: number;
  name: string;
  storage: Record<string, unknown>;
  credential: Record<string, unknown>;
  shardStore: { maxSize: number } | null;
  features: Array<Record<string, unknown>>;
  workingDir: string;
  revision: number;
}

/** User spaces of one tenant (spec §6): the tenant's userId is in every query. */
@Injectable()
export class UserSpacesService {
  private readonly log = new Logger('UserSpaces');

  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    @Inject(SECRET_BOX) private readonly box: SecretBox,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly drivers: SpaceDrivers,
  ) {}

  view(s: UserSpaceEntity): UserSpaceView {
    return {
      userSpaceID: s.userSpaceId,
      name: s.name,
      storage: s.storage,
      credential: publicCredential(this.credentialOf(s)),
      shardStore: s.shardStore,
      features: s.features,
      workingDir: s.workingDir,
      revision: s.revision,
    };
  }

  credentialOf(s: UserSpaceEntity): CredentialSpec {
    return JSON.parse(this.box.open(s.credentialSealed)) as CredentialSpec;
  }

  async create(userId: number, body: Record<string, unknown>): Promise<UserSpaceView> {
    const name = parseName(body.name);
    const storage = parseStorage(body.storage);
    const credential = parseCredential(body.credential, storage.type);
    const shardStore = parseShardStore(body.shardStore);
    const features = parseFeatures(body.features);
    const workingDir = parseWorkingDir(body.workingDir);
    if (storage.type !== 'Local') await this.drivers.endpoints.assertPermitted(storage.endpoint);
    const saved = await this.ds.transaction(async (em) => {
      let hostRoot: string | null = null;
      if (storage.type === 'Local') {
        // Confined to the allowed directories (also through symlinks), then claimed against every other
        // tenant's space under the claim's lock, in the transaction that stores the row.
        hostRoot = await resolveHostRoot(storage.rootDir, this.localRootOptions(userId));
        await claimLocalRoot(em, { userId, hostRoot, dataDir: this.config.JCS_DATA_DIR });
        this.drivers.storageSpec(userId, storage); // creates the folder when it is in the tenant's own directory
      }
      return em.getRepository(UserSpaceEntity).save({
        userId,
        name,
        storage,
        credentialSealed: this.box.seal(JSON.stringify(credential)),
        shardStore,
        features,
        workingDir,
        revision: 1,
        isDefault: false,
        hostRoot,
      });
    });
    return this.view(await this.get(userId, saved.userSpaceId));
  }

  private localRootOptions(userId: number) {
    return { dataDir: this.config.JCS_DATA_DIR, userId, allowedRoots: this.config.JCS_LOCAL_ROOTS };
  }

  /**
   * The shard areas inside `space`'s namespace (its own and those of the tenant's other spaces that lie
   * there): the one check for everything the API writes into a space or imports from it.
   */
  async shardAreas(userId: number, space: UserSpaceEntity): Promise<ShardAreas> {
    const spaces = await this.ds.getRepository(UserSpaceEntity).find({ where: { userId } });
    const roots = new Map<number, string>();
    for (const s of [space, ...spaces])
      if (s.storage.type === 'Local' && !roots.has(s.userSpaceId))
        roots.set(s.userSpaceId, s.hostRoot ?? (await this.realRootOf(s)));
    return shardAreasFor(space, spaces, (s) => roots.get(s.userSpaceId)!);
  }

  private async realRootOf(s: UserSpaceEntity): Promise<string> {
    const lexical = storedLocalRoot(s.storage, this.config.JCS_DATA_DIR, s.userId);
    return realpathExisting(lexical).catch(() => lexical);
  }

  /** Renames and/or replaces the credential; every update bumps `revision` (and so rebuilds the driver). */
  async update(userId: number, userSpaceId: number, body: Record<string, unknown>): Promise<UserSpaceView> {
    const space = await this.get(userId, userSpaceId);
    // The policy may have changed since the space was stored: an update does not keep a refused endpoint.
    if (space.storage.type !== 'Local') await this.drivers.endpoints.assertPermitted(String(space.storage.endpoint));
    const patch: { name?: string; credentialSealed?: string } = {};
    if (body.name !== undefined) patch.name = parseName(body.name);
    if (body.credential !== undefined)
      patch.credentialSealed = this.box.seal(JSON.stringify(parseCredential(body.credential, space.storage.type as 'Local')));
    await this.ds
      .createQueryBuilder()
      .update(UserSpaceEntity)
      .set({ ...patch, revision: () => 'revision + 1' })
      .where('user_id = :userId AND user_space_id = :userSpaceId', { userId, userSpaceId })
      .execute();
    return this.view(await this.get(userId, userSpaceId));
  }

  /** Missing (or foreign) is not an error; refused while objects keep pieces in the space. */
  async delete(userId: number, userSpaceId: number): Promise<void> {
    await this.ds.transaction(async (em) => {
      const space = await em.findOne(UserSpaceEntity, { where: { userId, userSpaceId }, lock: { mode: 'pessimistic_write' } });
      if (!space) return;
      // Ours (the spec has no default space): a refusal of the argument, not a failure of the gateway.
      if (space.isDefault) throw badArgument(`user space ${userSpaceId} is the tenant's default space and cannot be deleted`);
      const [{ n }] = await em.query(
        `SELECT (SELECT count(*) FROM object_blocks WHERE user_space_id = $1) + (SELECT count(*) FROM multipart_parts WHERE user_space_id = $1)
           + (SELECT count(*) FROM s3_upload_parts WHERE user_space_id = $1) AS n`,
        [userSpaceId],
      );
      if (Number(n) > 0) throw operationFailed(`user space ${userSpaceId} still holds pieces of ${n} object blocks; move or delete them first`);
      await em.delete(UserSpaceEntity, { userId, userSpaceId });
    });
  }

  async get(userId: number, userSpaceId: number): Promise<UserSpaceEntity> {
    const s = await this.ds.getRepository(UserSpaceEntity).findOne({ where: { userId, userSpaceId } });
    if (!s) throw notFound(`user space ${userSpaceId} not found`);
    return s;
  }

  /**
   * Writes, reads back and deletes a probe in `<workingDir>/` of a space that need not be saved. A
   * failure answers one fixed category (see probe-failure.ts); the backend's words go to the log only.
   */
  async test(userId: number, body: Record<string, unknown>): Promise<void> {
    const storage = parseStorage(body.storage);
    const credential = parseCredential(body.credential, storage.type);
    const workingDir = parseWorkingDir(body.workingDir);
    if (storage.type !== 'Local') await this.drivers.endpoints.assertPermitted(storage.endpoint);
    else {
      // The probe writes a file: the same boundary as for a stored space (another tenant's folder is not probed).
      const hostRoot = await resolveHostRoot(storage.rootDir, this.localRootOptions(userId));
      await this.ds.transaction((em) => claimLocalRoot(em, { userId, hostRoot, dataDir: this.config.JCS_DATA_DIR }));
    }
    const driver = this.drivers.build(userId, storage, credential);
    // The driver's own timeouts bound each request; retries could add up, so the whole probe gets one
    // deadline too: the caller hears back within JCS_BACKEND_TIMEOUT_MS whatever the backend does.
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(operationFailed(`the storage did not answer within ${this.config.JCS_BACKEND_TIMEOUT_MS} ms`, 504)),
        this.config.JCS_BACKEND_TIMEOUT_MS,
      );
    });
    const probe = driver.test(workingDir);
    try {
      await Promise.race([probe, deadline]);
    } catch (err) {
      const category = probeFailureCategory(err);
      // The detail names the bucket, the host and the backend's reason, never a credential.
      this.log.warn({ userId, storageType: storage.type, category, detail: err instanceof Error ? err.message : String(err) }, 'user space test failed');
      throw probeFailure(category);
    } finally {
      clearTimeout(timer);
      // Close once the probe has settled (close waits for operations in flight), without holding the caller.
      void probe.catch(() => undefined).finally(() => driver.close?.());
    }
  }
}
