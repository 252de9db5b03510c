import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { DomainError, badArgument, operationFailed } from '#common';
import {
  StorageKeyNotFoundError,
  type ByteRange,
  type StorageDriver,
  type ListOptions,
  type StorageEntry,
  type PruneOptions,
  type StorageKind, type WriteOptions, type WriteResult } from './driver.js';
import { assertSafeKey, assertSafePrefix, assertValidPageSize, assertValidRange, assertValidSize } from './safe-key.js';

export const DEFAULT_PAGE_SIZE = 1000;

/**
 * The public face every driver shares: it validates every key, prefix, range and size once, here,
 * before a backend sees it, and implements `test()` once for all backends. Backends implement the
 * protected methods and receive only checked arguments. (A base class rather than a wrapping
 * decorator, so a driver built directly - in tests, say - can never skip the checks.)
 *
 * It also counts operations in flight (an open read stream counts until it closes), so `close()`
 * waits for them before releasing the backend's connections: a driver replaced in a `DriverCache`
 * lets running transfers finish.
 */
export abstract class CheckedStorageDriver implements StorageDriver {
  abstract readonly kind: StorageKind;
  abstract readonly listsModTime: boolean;

  protected abstract headObject(key: string): Promise<{ size: number; modTime: Date } | null>;
  protected abstract readObject(key: string, range: ByteRange | undefined): Promise<Readable>;
  protected abstract writeObject(
    key: string,
    body: Readable,
    opts: WriteOptions,
  ): Promise<WriteResult>;
  protected abstract moveObject(fromKey: string, toKey: string, opts: PruneOptions): Promise<void>;
  protected abstract listObjects(prefix: string, pageSize: number, folders: boolean): AsyncGenerator<StorageEntry[]>;
  protected abstract makeFolderObject(key: string): Promise<void>;
  protected abstract deleteObject(key: string, opts: PruneOptions): Promise<void>;
  /** Releases the backend's connections; called once nothing is in flight. */
  protected async closeBackend(): Promise<void> {}

  private inFlight = 0;
  private drainWaiters: (() => void)[] = [];

  private async tracked<T>(op: () => Promise<T>): Promise<T> {
    this.inFlight++;
    try {
      return await op();
    } finally {
      this.settle();
    }
  }

  private settle(): void {
    if (--this.inFlight === 0) for (const wake of this.drainWaiters.splice(0)) wake();
  }

  async test(probeDir: string): Promise<void> {
    assertSafePrefix(probeDir);
    const dir = probeDir === '' || probeDir.endsWith('/') ? probeDir : `${probeDir}/`;
    const key = `${dir}.probe-${randomBytes(8).toString('hex')}`;
    const probe = randomBytes(64);
    return this.tracked(() => this.probe(key, probe));
  }

  private async probe(key: string, probe: Buffer): Promise<void> {
    try {
      await this.writeObject(key, Readable.from([probe]), { size: probe.length });
      const chunks: Buffer[] = [];
      for await (const chunk of await this.readObject(key, undefined)) chunks.push(chunk as Buffer);
      if (!Buffer.concat(chunks).equals(probe)) throw operationFailed('the probe object read back differs from what was written', 502);
      await this.deleteObject(key, {});
    } catch (err) {
      await this.deleteObject(key, {}).catch(() => undefined);
      const reason = err instanceof Error ? err.message : String(err);
      const status = err instanceof DomainError && err.code === 'OperationFailed' ? err.status : 502;
      throw operationFailed(`${this.kind} storage test failed: ${reason}`, status);
    }
  }

  async head(key: string): Promise<{ size: number; modTime: Date } | null> {
    assertSafeKey(key);
    return this.tracked(() => this.headObject(key));
  }

  async createReadStream(key: string, range?: ByteRange): Promise<Readable> {
    assertSafeKey(key);
    assertValidRange(range);
    this.inFlight++;
    try {
      const stream = await this.readObject(key, range);
      stream.once('close', () => this.settle());
      return stream;
    } catch (err) {
      this.settle();
      throw err;
    }
  }

  async readBytes(key: string, opts: { expectedSize: number; range?: ByteRange }): Promise<Buffer> {
    assertSafeKey(key);
    assertValidRange(opts.range);
    return this.tracked(() => this.readObjectBytes(key, opts.expectedSize, opts.range));
  }

  /** Default: a head for the size, then the stream collected. Local reads it all from one open file. */
  protected async readObjectBytes(key: string, expectedSize: number, range: ByteRange | undefined): Promise<Buffer> {
    const head = await this.headObject(key);
    if (!head) throw new StorageKeyNotFoundError(key);
    if (head.size !== expectedSize) throw sizeMismatch(key, head.size, expectedSize);
    const chunks: Buffer[] = [];
    for await (const chunk of await this.readObject(key, range)) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  async write(key: string, body: Readable, opts: WriteOptions = {}): Promise<WriteResult> {
    assertSafeKey(key);
    assertValidSize(opts.size);
    if (opts.modTime !== undefined && !(opts.modTime instanceof Date && Number.isFinite(opts.modTime.getTime())))
      throw badArgument('modTime must be a valid date');
    opts.signal?.throwIfAborted();
    return this.tracked(() => this.writeObject(key, body, opts));
  }

  async move(fromKey: string, toKey: string, opts: PruneOptions = {}): Promise<void> {
    assertSafeKey(fromKey);
    assertSafeKey(toKey);
    if (opts.keepDirs !== undefined) assertSafeKey(opts.keepDirs);
    return this.tracked(async () => {
      if (fromKey === toKey) {
        // A copy-then-delete backend would delete the object it just "moved".
        if (!(await this.headObject(fromKey))) throw new StorageKeyNotFoundError(fromKey);
        return;
      }
      return this.moveObject(fromKey, toKey, opts);
    });
  }

  async *list(prefix: string, opts: ListOptions = {}): AsyncGenerator<StorageEntry[]> {
    assertSafePrefix(prefix);
    const pageSize = assertValidPageSize(opts.pageSize ?? DEFAULT_PAGE_SIZE);
    this.inFlight++;
    try {
      yield* this.listObjects(prefix, pageSize, opts.folders === true);
    } finally {
      this.settle();
    }
  }

  async makeFolder(key: string): Promise<void> {
    assertSafeKey(key);
    return this.tracked(() => this.makeFolderObject(key));
  }

  async delete(key: string, opts: PruneOptions = {}): Promise<void> {
    assertSafeKey(key);
    if (opts.keepDirs !== undefined) assertSafeKey(opts.keepDirs);
    return this.tracked(() => this.deleteObject(key, opts));
  }

  /** Waits for operations in flight (including open read streams), then releases the backend. */
  async close(): Promise<void> {
    if (this.inFlight > 0) await new Promise<void>((resolve) => this.drainWaiters.push(resolve));
    await this.closeBackend();
  }
}

/** Compares keys the way S3 orders them: by UTF-8 bytes. */
export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** A stored object whose size is not the one its caller recorded (damaged, truncated or replaced). */
export function sizeMismatch(key: string, actual: number, expected: number): DomainError {
  return operationFailed(`${key} has ${actual} bytes where ${expected} were recorded`);
}
