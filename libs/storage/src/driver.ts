import type { Readable } from 'node:stream';
import { DomainError } from '#common';

/** One object as a listing reports it. Keys are relative, '/'-separated (see `assertSafeKey`). */
export interface StorageEntry {
  key: string;
  size: number;
  modTime: Date;
  /** The backend's tag of this version of the object (S3/OBS ETag without quotes); absent on Local. */
  etag?: string;
}

/** What a write stored: its size and, where the backend tags versions, the new version's tag. */
export interface WriteResult {
  size: number;
  etag?: string;
}

/** A byte range of an object; `end` is inclusive; absent `end` means "to the end of the object". */
export interface ByteRange {
  start: number;
  end?: number;
}

export type StorageKind = 'Local' | 'S3' | 'OBS';

export interface WriteOptions {
  /** The body must have exactly this many bytes. */
  size?: number;
  signal?: AbortSignal;
  /**
   * A staging copy that the caller will `move` to its final key: its bytes must be durable, but its
   * name need not survive a crash (the move makes the final name durable), so a backend may skip
   * that flush.
   */
  staging?: boolean;
  /**
   * Write straight to `key`, without a temp file of the driver's own: for keys private to their
   * writer (a shard store's staging keys). Local creates the file exclusively (an existing key is an
   * OperationFailed); S3 and OBS puts are atomic anyway and do not check (the keys are unique). A
   * failed write removes the partial object; a crash may leave it, but under `key`, where listings
   * (and so the garbage collector's temp sweep) see it.
   */
  exclusive?: boolean;
  /**
   * The object's modification time, kept as rclone keeps it: the file's mtime on Local, `mtime` user
   * metadata (seconds since the epoch as a decimal, `X-Amz-Meta-Mtime`) on S3 and OBS. `head` reports it
   * back; without it an object's time is when it was written.
   */
  modTime?: Date;
}

export interface ListOptions {
  pageSize?: number;
  /**
   * Also list empty folders, as entries whose key ends in '/' (size 0), in key order: Local reports
   * folders holding no object; S3 and OBS report their folder marker objects (`name/`, which a plain
   * listing skips).
   */
  folders?: boolean;
}

/** Options of `move` and `delete`. */
export interface PruneOptions {
  /**
   * A folder key (no trailing '/'): folders emptied by this call are removed only below it; it and
   * its parents are kept. For folders that concurrent writers share (a shard store's `tmp/` and
   * `blocks/`): pruning one while another writer creates a file in it fails that writer.
   */
  keepDirs?: string;
}

/**
 * A flat key space of byte objects on one backend (a folder, an S3 or OBS bucket). Drivers know
 * nothing of tenants, packages or user spaces. All object bytes move as streams with backpressure.
 *
 * Every key is checked by `assertSafeKey` (a bad one is a BadArgument); a missing object on read is a
 * `StorageKeyNotFoundError`; any backend failure is OperationFailed carrying the backend's reason
 * (status 502 when the backend refuses or is unreachable, 504 on timeout).
 */
export interface StorageDriver {
  readonly kind: StorageKind;
  /**
   * Whether `list` reports the modification time a write kept (`WriteOptions.modTime`). Local does; S3
   * and OBS listings carry only the upload time (user metadata needs a HEAD), so callers comparing
   * times ask `head` for the kept one.
   */
  readonly listsModTime: boolean;
  /** Writes, reads back and deletes a probe object under `probeDir` (a relative key prefix); throws OperationFailed with the backend's reason. */
  test(probeDir: string): Promise<void>;
  /** Size and modification time (the kept one, see `WriteOptions.modTime`), or null when there is no object under `key`. */
  head(key: string): Promise<{ size: number; modTime: Date } | null>;
  /**
   * The object's bytes, or exactly the bytes of `range` (an `end` past the object is clamped; a
   * `start` at or past the end of a non-empty object is a BadArgument). Missing key:
   * `StorageKeyNotFoundError`. Destroying the returned stream releases the backend resources.
   */
  createReadStream(key: string, range?: ByteRange): Promise<Readable>;
  /**
   * The bytes of a small object, or of a small `range` of one, in memory (the caller bounds the size:
   * this is for reads of at most a few hundred KiB, where a stream costs more than the bytes), after
   * checking that the whole object has `expectedSize` bytes (else OperationFailed, before any byte).
   * Missing key: `StorageKeyNotFoundError`. Range rules as `createReadStream`'s.
   */
  readBytes(key: string, opts: { expectedSize: number; range?: ByteRange }): Promise<Buffer>;
  /**
   * Streams `body` to `key`. Atomic: readers see either the old object or the complete new one; a
   * failed or aborted body leaves nothing behind. When `size` is given the body must have exactly that
   * many bytes (else BadArgument). When the body itself fails, its own error is rethrown. Returns the
   * number of bytes written and, on S3/OBS, the ETag the listing will show for this version.
   */
  write(key: string, body: Readable, opts?: WriteOptions): Promise<WriteResult>;
  /** Moves an object within the space, overwriting the destination. Missing source: `StorageKeyNotFoundError`. */
  move(fromKey: string, toKey: string, opts?: PruneOptions): Promise<void>;
  /**
   * Pages of the entries whose key starts with `prefix` ('' or a key prefix, possibly ending in '/';
   * a plain string prefix: 'a/b' matches 'a/b/x' and 'a/bc'), recursively, in key order (UTF-8 byte
   * order) within a page. `pageSize` defaults to 1000; backends may return smaller pages.
   */
  list(prefix: string, opts?: ListOptions): AsyncGenerator<StorageEntry[]>;
  /**
   * Makes an empty folder at `key` (a folder key, no trailing '/'): a directory on Local, a zero-byte
   * `key/` marker object on S3 and OBS (as rclone and the consoles make them). An existing one is fine.
   */
  makeFolder(key: string): Promise<void>;
  /** Deletes the object; an absent key is not an error. */
  delete(key: string, opts?: PruneOptions): Promise<void>;
  /** Releases connections; the driver must not be used afterwards. */
  close?(): Promise<void>;
}

/** Thrown when reading (or moving) an object that does not exist, so callers can tell it apart. */
export class StorageKeyNotFoundError extends DomainError {
  constructor(readonly key: string) {
    super('OperationFailed', `object ${key} not found in storage`, 500);
  }
}

export function isStorageKeyNotFound(err: unknown): err is StorageKeyNotFoundError {
  return err instanceof StorageKeyNotFoundError;
}
