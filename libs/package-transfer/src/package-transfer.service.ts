import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { APP_CONFIG, type AppConfig } from '#config';
import { assertValidName, assertValidObjectPath, badArgument, dataExists, forEachBounded, notFound, operationFailed } from '#common';
import { PackageEntity } from '#db';
import { PackagesService, type PackageView } from '#packages';
import { ShardRegistry, type StagedShard } from '#shard-store';
import { relativeFolderPath, type StorageEntry } from '#storage';
import { SpaceDrivers, SpacesService, UserSpacesService } from '#user-spaces';

import { ObjectReader, ObjectsService } from '#objects';

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
   * At most JCS_MAX_FILES_PER_IMPORT files; `signal` (the client went away) stops listing and
   * streaming, discards what was staged and commits nothing.
   */
  async createPackage(
    userId: number,
    req: { userSpaceId: number; path: string; bucketId: number; name: string; spaceAffinity?: number },
    signal?: AbortSignal,
  ): Promise<PackageView> {
    assertValidName('package', req.name);
    const source = await this.userSpaces.get(userId, req.userSpaceId);
    const root = relativeFolderPath(req.path ?? '', 'path');
    const driver = this.drivers.driverFor(source);
    // Fail fast on a name that is taken, before moving any byte (checked again at commit).
    if (!(await this.ds.query('SELECT 1 FROM buckets WHERE user_id = $1 AND bucket_id = $2', [userId, req.bucketId])).length)
      throw notFound(`bucket ${req.bucketId} not found`);
    if (await this.ds.getRepository(PackageEntity).exists({ where: { userId, bucketId: req.bucketId, name: req.name } }))
      throw dataExists(`package ${JSON.stringify(req.name)} already exists in bucket ${req.bucketId}`);

    // The gateway's own data (shards, temp files) is never imported: neither the source space's nor
    // that of another of the tenant's spaces stored inside it.
    const areas = await this.userSpaces.shardAreas(userId, source);
    if (root !== '') areas.assertOutside(root, 'path');

    const target = await this.spaces.uploadTarget(userId, req.spaceAffinity);
    const store = this.drivers.shardStoreFor(target);
    const maxFiles = this.config.JCS_MAX_FILES_PER_IMPORT;

    const files = root === '' ? null : await driver.head(root);
    const entries: AsyncIterable<StorageEntry> = files
      ? (async function* () {
          yield { key: root, size: files.size, modTime: files.modTime };
        })()
      : flatten(driver.list(root === '' ? '' : `${root}/`), signal);
    const imported: Array<{ path: string; shard: StagedShard }> = [];
    let seen = 0;
    let taken = 0;
    try {
      await forEachBounded(entries, CONCURRENCY, async (e) => {
        seen++;
        if (areas.covers(e.key)) return;
        // Counted before any byte of the file moves: the import stops at the bound, not after it.
        if (++taken > maxFiles) throw badArgument(`${JSON.stringify(req.path)} holds more than ${maxFiles} files (JCS_MAX_FILES_PER_IMPORT); import a smaller folder`);
        throwIfGone(signal);
        const path = files ? e.key.slice(e.key.lastIndexOf('/') + 1) : e.key.slice(root === '' ? 0 : root.length + 1);
        assertValidObjectPath(path);
        const body = await driver.createReadStream(e.key);
        // A write refused before it starts (the signal fired) leaves its body unread: closed here, or the
        // open read would keep the driver (and the gateway's shutdown) waiting for it forever.
        const shard = await store.stage(body, { maxSize: this.config.JCS_MAX_OBJECT_SIZE, signal }).finally(() => body.destroy());
        imported.push({ path, shard });
      });
      throwIfGone(signal);
      // Nothing at the path at all is most likely a typo: say so rather than create an empty package.
      if (root !== '' && seen === 0) throw notFound(`nothing found at ${JSON.stringify(req.path)} in user space ${req.userSpaceId}`);
    } catch (e) {
      await store.discard(imported.map((i) => i.shard));
      throw gone(signal) ?? e;
    }
    await store.publish(
      imported.map((i) => i.shard),
      (shards) => this.shards.touch(target.userSpaceId, shards),
    );
    // Published but not referenced: the collector removes them after the grace period.
    throwIfGone(signal);
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

  /**
   * Writes every object of the package as a plain file at `<rootPath>/<object path>` in the space.
   * Refused up front when any of those files would land in a shard area (nothing is written then).
   * `signal` stops it between files and cuts the file being written: files already written stay,
   * a partial file never does (the drivers write atomically).
   */
  async downloadPackage(userId: number, req: { userSpaceId: number; packageId: number; rootPath: string }, signal?: AbortSignal): Promise<void> {
    const space = await this.userSpaces.get(userId, req.userSpaceId);
    await this.packages.get(userId, req.packageId);
    const root = relativeFolderPath(req.rootPath ?? '', 'rootPath');
    const areas = await this.userSpaces.shardAreas(userId, space);
    areas.assertOutside(root, 'rootPath');
    for (const rel of areas.relativeTo(root)) {
      const [hit] = await this.ds.query(
        // Paths are COLLATE "C": the range is exactly "starts with rel/".
        `SELECT path FROM objects WHERE user_id = $1 AND package_id = $2 AND (path = $3 OR (path >= $4 AND path < $5)) LIMIT 1`,
        [userId, req.packageId, rel, `${rel}/`, `${rel}0`],
      );
      if (hit) areas.assertOutside(root ? `${root}/${hit.path}` : hit.path, 'object');
    }
    const driver = this.drivers.driverFor(space);
    for await (const page of this.packageObjects(userId, req.packageId)) {
      throwIfGone(signal);
      const readable = page.filter((o) => o.object.redundancy.type !== 'multipartUpload');
      try {
        await forEachBounded(readable, CONCURRENCY, async ({ object, blocks }) => {
          throwIfGone(signal);
          const key = root ? `${root}/${object.path}` : object.path;
          areas.assertOutside(key, 'object'); // also for objects committed after the check above
          const read = await this.reader.prepare(object, blocks, { start: 0, end: object.size - 1 });
          const body = await read.open();
          await driver.write(key, body, { size: object.size, signal }).finally(() => body.destroy()); // see createPackage
        });
      } catch (e) {
        throw gone(signal) ?? e;
      }
    }
  }

  /**
   * The package's objects in path order with their blocks, a page at a time (a package may hold
   * millions); each page is one statement, so every object comes with the blocks of its version.
   */
  private async *packageObjects(userId: number, packageId: number) {
    let after: string | null = null;
    for (;;) {
      const page = await this.objects.pageWithBlocks(userId, packageId, after, EXPORT_PAGE);
      if (page.length) yield page;
      if (page.length < EXPORT_PAGE) return;
      after = page[page.length - 1]!.object.path;
    }
  }
}

/** Objects read per query when writing a package out. */
const EXPORT_PAGE = 1000;

/** The error a transfer ends with once its client has gone (nobody reads it; not logged as a failure). */
function gone(signal: AbortSignal | undefined): Error | undefined {
  return signal?.aborted ? operationFailed('the client closed the connection; the transfer was stopped', 499) : undefined;
}

function throwIfGone(signal: AbortSignal | undefined): void {
  const e = gone(signal);
  if (e) throw e;
}

/** Entries one by one; stops listing once `signal` fires. */
async function* flatten(pages: AsyncIterable<StorageEntry[]>, signal?: AbortSignal): AsyncGenerator<StorageEntry> {
  for await (const page of pages) {
    if (signal?.aborted) return;
    yield* page;
  }
}

