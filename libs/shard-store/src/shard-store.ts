import { randomBytes, randomUUID } from 'node:crypto';
import { pipeline } from 'node:stream';
import type { Readable } from 'node:stream';
import { forEachBounded, operationFailed } from '#common';
import type { ByteRange, StorageDriver, StorageEntry } from '#storage';
import { HashingTap, fullHash } from './file-hash.js';

export interface StoredShard {
  fileHash: string;
  size: number;
  /** Raw SHA-256 of the content (for composite hashes). */
  digest: Buffer;
}

/** A shard whose bytes are durable in the temp area, not yet under its content address. */
export interface StagedShard extends StoredShard {
  tmpKey: string;
  /** Raw MD5 of the content, when StageOptions.md5 asked for it. */
  md5?: Buffer;
}

export interface StageOptions {
  maxSize?: number;
  signal?: AbortSignal;
  /** Also compute the MD5 while streaming (S3 writes: their ETag). */
  md5?: boolean;
}

/**
 * Records (touches) shards before they are published, so the collector will not remove them while
 * the upload has not committed; one call for a whole batch.
 */
export type BeforePublish = (shards: Array<{ fileHash: string; size: number }>) => Promise<void>;

/**
 * This process's instance ID: its temp files live under `shards/tmp/<instanceId>/`, and it keeps a
 * heartbeat under this ID (InstanceHeartbeat), so the collector can tell a live process's in-flight
 * temp files from a crashed one's leftovers.
 */
export const PROCESS_INSTANCE_ID = randomBytes(12).toString('hex');

/** Moves at once when publishing a batch: parallel renames let the filesystem batch their flushes. */
const PUBLISH_CONCURRENCY = 8;

/**
 * Content-addressed shards in a user space: `<workingDir>/shards/blocks/<2 hex>/<fileHash>`. Bytes are
 * streamed to `<workingDir>/shards/tmp/<instanceId>/<uuid>` first (durably, straight into that private
 * key: no hidden temp file, so a crash's leftover is visible to the collector's sweep), hashed on the
 * way, then published under their hash. Publishing always moves the freshly hashed file over the
 * block key, even when one is there already: a stored file is never trusted by its size (it may have
 * been damaged on disk), and the move repairs it. On Local that is one atomic rename; on S3/OBS a
 * move is a server-side copy plus a delete, so an upload of content already stored costs that copy.
 * Publishing is a separate step so that a request with many files records and moves them as one
 * batch. The shared folders (`tmp/<instanceId>`, `blocks/…`) are never pruned. Knows nothing of tenants.
 */
export class ShardStore {
  private readonly root: string;

  constructor(
    readonly driver: StorageDriver,
    workingDir: string,
    readonly instanceId: string = PROCESS_INSTANCE_ID,
  ) {
    const wd = workingDir.replace(/^\/+|\/+$/g, '');
    this.root = wd ? `${wd}/shards` : 'shards';
  }

  /** Every process's temp files are under this prefix (`tmp/<instanceId>/<uuid>`). */
  get tmpPrefix(): string {
    return `${this.root}/tmp/`;
  }

  /** This process's temp folder. */
  get ownTmpDir(): string {
    return `${this.root}/tmp/${this.instanceId}`;
  }

  /** The instance that wrote a temp key (`undefined` for a file directly under `tmp/`, from older versions). */
  tmpOwner(tmpKey: string): string | undefined {
    const rest = tmpKey.slice(this.tmpPrefix.length);
    const slash = rest.indexOf('/');
    return slash > 0 ? rest.slice(0, slash) : undefined;
  }

  /** Removes a temp file of any instance (the collector's sweep); the shared `tmp/` folder stays. */
  async removeTemp(tmpKey: string): Promise<void> {
    await this.driver.delete(tmpKey, { keepDirs: `${this.root}/tmp` });
  }

  blockKey(fileHash: string): string {
    return `${this.root}/blocks/${fileHash.slice(4, 6)}/${fileHash}`;
  }

  /** Streams `body` into the temp area, hashing it on the way (once). */
  async stage(body: Readable, opts: StageOptions = {}): Promise<StagedShard> {
    const tmpKey = `${this.ownTmpDir}/${randomUUID()}`;
    const tap = new HashingTap(opts.maxSize, opts.md5);
    // body → tap → driver. The callback form of pipeline wires errors both ways (a client gone or the
    // size limit destroys the driver's input; a failed write destroys the body); the driver's promise
    // reports the first error and removes its partial file.
    pipeline(body, tap, () => undefined);
    await this.driver.write(tmpKey, tap, { signal: opts.signal, staging: true, exclusive: true });
    const digest = tap.digest();
    return { fileHash: fullHash(digest), size: tap.size, digest, tmpKey, md5: tap.md5() };
  }

  /**
   * Records the staged shards (`beforePublish`), then moves each over its block key (see the class
   * comment: a stored copy is replaced, not trusted). On failure every staged temp file is removed.
   */
  async publish(staged: StagedShard[], beforePublish: BeforePublish): Promise<void> {
    try {
      const unique = [...new Map(staged.map((s) => [s.fileHash, { fileHash: s.fileHash, size: s.size }])).values()];
      await beforePublish(unique);
      const claimed = new Set<string>();
      await forEachBounded(staged, PUBLISH_CONCURRENCY, async (s) => {
        // Identical content twice in one batch: the first copy is published, the others dropped.
        const first = !claimed.has(s.fileHash);
        claimed.add(s.fileHash);
        if (first) await this.driver.move(s.tmpKey, this.blockKey(s.fileHash), { keepDirs: this.ownTmpDir });
        else await this.driver.delete(s.tmpKey, { keepDirs: this.ownTmpDir });
      });
    } catch (e) {
      await this.discard(staged);
      throw e;
    }
  }

  /** Removes staged temp files (best effort: the collector sweeps whatever remains). */
  async discard(staged: StagedShard[]): Promise<void> {
    await Promise.all(staged.map((s) => this.driver.delete(s.tmpKey, { keepDirs: this.ownTmpDir }).catch(() => undefined)));
  }

  /** stage + publish of one shard. */
  async put(body: Readable, opts: StageOptions & { beforePublish: BeforePublish }): Promise<StoredShard> {
    const staged = await this.stage(body, opts);
    await this.publish([staged], opts.beforePublish);
    return { fileHash: staged.fileHash, size: staged.size, digest: staged.digest };
  }

  /** Fails with OperationFailed when the shard is missing or has another size than recorded. */
  async check(fileHash: string, expectedSize: number): Promise<void> {
    const head = await this.driver.head(this.blockKey(fileHash));
    if (!head) throw operationFailed(`shard ${fileHash} is missing from its user space`);
    if (head.size !== expectedSize)
      throw operationFailed(`shard ${fileHash} has ${head.size} bytes where ${expectedSize} were recorded`);
  }

  /** The shard's bytes (or a range of them); call `check` first to fail before the first byte. */
  open(fileHash: string, range?: ByteRange): Promise<Readable> {
    return this.driver.createReadStream(this.blockKey(fileHash), range);
  }

  /** A small shard's bytes (or a range of them) in memory, its size checked first (see StorageDriver.readBytes). */
  readBytes(fileHash: string, expectedSize: number, range?: ByteRange): Promise<Buffer> {
    return this.driver.readBytes(this.blockKey(fileHash), { expectedSize, range });
  }

  async remove(fileHash: string): Promise<void> {
    const key = this.blockKey(fileHash);
    await this.driver.delete(key, { keepDirs: key.slice(0, key.lastIndexOf('/')) });
  }

  /** Temp entries (abandoned uploads show up here until collected). */
  async *tmpEntries(): AsyncGenerator<StorageEntry[]> {
    yield* this.driver.list(this.tmpPrefix);
  }
}
