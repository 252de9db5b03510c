import { randomUUID } from 'node:crypto';
import { pipeline } from 'node:stream';
import type { Readable } from 'node:stream';
import { operationFailed } from '../../common/src/index.js';
import type { ByteRange, StorageDriver, StorageEntry } from '../../storage/src/index.js';
import { HashingTap, fullHash } from './file-hash.js';

export interface StoredShard {
  fileHash: string;
  size: number;
  /** Raw SHA-256 of the content (for composite hashes). */
  digest: Buffer;
}

export interface PutOptions {
  maxSize?: number;
  signal?: AbortSignal;
  /**
   * Called with the hash once the bytes are safely in the temp area and before the shard is moved
   * into place: the caller records (touches) the shard so the collector will not remove it while the
   * upload has not committed.
   */
  beforePublish: (fileHash: string, size: number) => Promise<void>;
}

/**
 * Content-addressed shards in a user space: `<workingDir>/shards/blocks/<2 hex>/<fileHash>`, written
 * to `<workingDir>/shards/tmp/` first (the driver makes that write atomic and durable), then moved
 * into place. A shard already present is reused, not rewritten. Knows nothing of tenants.
 */
export class ShardStore {
  private readonly root: string;

  constructor(
    readonly driver: StorageDriver,
    workingDir: string,
  ) {
    const wd = workingDir.replace(/^\/+|\/+$/g, '');
    this.root = wd ? `${wd}/shards` : 'shards';
  }

  get tmpPrefix(): string {
    return `${this.root}/tmp/`;
  }

  blockKey(fileHash: string): string {
    return `${this.root}/blocks/${fileHash.slice(4, 6)}/${fileHash}`;
  }

  /** Streams `body` into the store, hashing it on the way (once). */
  async put(body: Readable, opts: PutOptions): Promise<StoredShard> {
    const tmpKey = `${this.tmpPrefix}${randomUUID()}`;
    const tap = new HashingTap(opts.maxSize);
    // body → tap → driver. The callback form of pipeline wires errors both ways (a client gone or the
    // size limit destroys the driver's input; a failed write destroys the body); the driver's promise
    // reports the first error and cleans its temp file.
    pipeline(body, tap, () => undefined);
    await this.driver.write(tmpKey, tap, { signal: opts.signal });
    const digest = tap.digest();
    const fileHash = fullHash(digest);
    try {
      await opts.beforePublish(fileHash, tap.size);
      const existing = await this.driver.head(this.blockKey(fileHash));
      if (existing && existing.size === tap.size) await this.driver.delete(tmpKey);
      else await this.driver.move(tmpKey, this.blockKey(fileHash));
    } catch (e) {
      await this.driver.delete(tmpKey).catch(() => undefined);
      throw e;
    }
    return { fileHash, size: tap.size, digest };
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

  async remove(fileHash: string): Promise<void> {
    await this.driver.delete(this.blockKey(fileHash));
  }

  /** Temp entries (abandoned uploads show up here until collected). */
  async *tmpEntries(): AsyncGenerator<StorageEntry[]> {
    yield* this.driver.list(this.tmpPrefix);
  }
}
