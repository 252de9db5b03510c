import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { APP_CONFIG, type AppConfig } from '#config';
import { assertValidName, assertValidObjectPath, badArgument, dataExists, forEachBounded, notFound } from '#common';
import { ObjectBlockEntity, ObjectEntity, PackageEntity } from '#db';
import { PackagesService, type PackageView } from '#packages';
import { ShardRegistry, type StagedShard } from '#shard-store';
import { assertSafePrefix, type StorageEntry } from '#storage';
import { SpaceDrivers, SpacesService, UserSpacesService } from '#user-spaces';

import { ObjectReader } from './object-reader.js';
import { ObjectsService } from './objects.service.js';

/** Files moved at once between a space and the shard store: enough to hide latency, bounded memory. */
const CONCURRENCY = 4;

/**
 * `userSpace/createPackage` and `userSpace/downloadPackage` (spec §6): import a file or folder tree
 * of a user space into a new package, and write a package's objects out as plain files.
 */
@Injectable()
export class PackageTransferService {
  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly userSpaces: UserSpacesService,
    private readonly spaces: SpacesService,
    private readonly drivers: SpaceDrivers,
    private readonly shards: ShardRegistry,
    private readonly objects: ObjectsService,
    private readonly packages: PackagesService,
    private readonly reader: ObjectReader,
  ) {}

  /**
   * Streams every file under `path` (relative to the storage root) into the shard store of
   * `spaceAffinity` (or the default space), then creates the package and its objects in one
   * transaction: a failure leaves no package behind (the written shards are collected later).
   */
  async createPackage(
    userId: number,
    req: { userSpaceId: number; path: string; bucketId: number; name: string; spaceAffinity?: number },
  ): Promise<PackageView> {
    assertValidName('package', req.name);
    const source = await this.userSpaces.get(userId, req.userSpaceId);
    const root = normalizeRelative(req.path, 'path');
    const driver = this.drivers.driverFor(source);
    // Fail fast on a name that is taken, before moving any byte (checked again at commit).
    if (!(await this.ds.query('SELECT 1 FROM buckets WHERE user_id = $1 AND bucket_id = $2', [userId, req.bucketId])).length)
      throw notFound(`bucket ${req.bucketId} not found`);
    if (await this.ds.getRepository(PackageEntity).exists({ where: { userId, bucketId: req.bucketId, name: req.name } }))
      throw dataExists(`package ${JSON.stringify(req.name)} already exists in bucket ${req.bucketId}`);

    const target = await this.spaces.uploadTarget(userId, req.spaceAffinity);
    const store = this.drivers.shardStoreFor(target);
    // The gateway's own data (shards, temp files) in the source space is never imported.
    const ownArea = source.workingDir ? `${source.workingDir}/shards/` : 'shards/';

    const files = root === '' ? null : await driver.head(root);
    const entries: AsyncIterable<StorageEntry> = files
      ? (async function* () {
          yield { key: root, size: files.size, modTime: files.modTime };
        })()
      : flatten(driver.list(root === '' ? '' : `${root}/`));
    const imported: Array<{ path: string; shard: StagedShard }> = [];
    let seen = 0;
    try {
      await forEachBounded(entries, CONCURRENCY, async (e) => {
        seen++;
        if (e.key.startsWith(ownArea)) return;
        const path = files ? e.key.slice(e.key.lastIndexOf('/') + 1) : e.key.slice(root === '' ? 0 : root.length + 1);
        assertValidObjectPath(path);
        const shard = await store.stage(await driver.createReadStream(e.key), { maxSize: this.config.JCS_MAX_OBJECT_SIZE });
        imported.push({ path, shard });
      });
      // Nothing at the path at all is most likely a typo: say so rather than create an empty package.
      if (root !== '' && seen === 0) throw notFound(`nothing found at ${JSON.stringify(req.path)} in user space ${req.userSpaceId}`);
    } catch (e) {
      await store.discard(imported.map((i) => i.shard));
      throw e;
    }
    await store.publish(
      imported.map((i) => i.shard),
      (shards) => this.shards.touch(target.userSpaceId, shards),
    );
    imported.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));

    return this.ds.transaction(async (em) => {
      const pkg = await this.packages.create(userId, req.bucketId, req.name, em);
      if (imported.length)
        await this.objects.commitObjects(
          em,
          userId,
          pkg.packageID,
          imported.map((i) => ({
            path: i.path,
            size: i.shard.size,
            fileHash: i.shard.fileHash,
            redundancy: { type: 'none' as const },
            blocks: [{ index: 0, userSpaceId: target.userSpaceId, fileHash: i.shard.fileHash, size: i.shard.size }],
          })),
        );
      return pkg;
    });
  }

  /** Writes every object of the package as a plain file at `<rootPath>/<object path>` in the space. */
  async downloadPackage(userId: number, req: { userSpaceId: number; packageId: number; rootPath: string }): Promise<void> {
    const space = await this.userSpaces.get(userId, req.userSpaceId);
    await this.packages.get(userId, req.packageId);
    const root = normalizeRelative(req.rootPath, 'rootPath');
    const driver = this.drivers.driverFor(space);
    const objects = await this.ds.getRepository(ObjectEntity).find({ where: { userId, packageId: req.packageId }, order: { path: 'ASC' } });
    const readable = objects.filter((o) => o.redundancy.type !== 'multipartUpload');
    await forEachBounded(readable, CONCURRENCY, async (o) => {
      const blocks = await this.ds.getRepository(ObjectBlockEntity).find({ where: { objectId: o.objectId } });
      const read = await this.reader.prepare(o, blocks, { start: 0, end: o.size - 1 });
      await driver.write(root ? `${root}/${o.path}` : o.path, await read.open(), { size: o.size });
    });
  }
}

async function* flatten(pages: AsyncIterable<StorageEntry[]>): AsyncGenerator<StorageEntry> {
  for await (const page of pages) yield* page;
}

/** '' or a relative path inside the storage (no leading '/', no '..'). */
function normalizeRelative(p: unknown, what: string): string {
  if (p === undefined || p === null) return '';
  if (typeof p !== 'string') throw badArgument(`${what} must be a string`);
  const trimmed = p.replace(/^\.?\/*$/, '').replace(/\/+$/, '');
  if (trimmed === '') return '';
  try {
    assertSafePrefix(trimmed);
  } catch {
    throw badArgument(`${what} ${JSON.stringify(p)} must be a relative path inside the storage (no '..', no leading '/')`);
  }
  return trimmed;
}
