import { randomBytes } from 'node:crypto';
import fsCallbacks, { createWriteStream, type Dirent } from 'node:fs';
import { promisify } from 'node:util';
import { lstat, mkdir, open, readdir, realpath, rename, rmdir, stat, unlink, utimes, type FileHandle } from 'node:fs/promises';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { badArgument, DomainError, operationFailed } from '#common';
import { ByteCounter, rangeNotSatisfiable, watchBody } from './byte-streams.js';
import { CheckedStorageDriver, compareKeys, sizeMismatch } from './checked-driver.js';
import { StorageKeyNotFoundError, type ByteRange, type PruneOptions, type StorageEntry, type WriteOptions } from './driver.js';
import { assertSafeKey } from './safe-key.js';

export interface LocalDriverOptions {
  /** Absolute path of the folder holding the objects; it must exist (it is never created). */
  rootDir: string;
}

/** 1 MiB reads measured ~4x faster than the 64 KiB default on these machines. */
const READ_HIGH_WATER_MARK = 1024 * 1024;
const WRITE_HIGH_WATER_MARK = 1024 * 1024;
const fdOpen = promisify(fsCallbacks.open);
const fdStat = promisify(fsCallbacks.fstat);
const fdSync = promisify(fsCallbacks.fsync);
const fdRead = (fd: number, buf: Buffer, offset: number, length: number, position: number) =>
  new Promise<number>((resolve, reject) => fsCallbacks.read(fd, buf, offset, length, position, (err, n) => (err ? reject(err) : resolve(n))));
/** Files of one folder stat'ed at once while listing. */
const STAT_BATCH = 64;
/** The driver's own in-flight temp files; listings skip them. */
const TEMP_NAME = /^\.tmp-[0-9a-f]{24}$/;

/**
 * Objects as files under a root folder; a key's segments are path segments. Every key is resolved
 * inside the root, and a key whose existing path components lead outside the root through a
 * symlink (or end in a dangling symlink) is refused. Writes go to a temp file in the target folder,
 * are fsynced, renamed over the target and the folder fsynced, so a reader sees the old or the
 * complete new file and a crash leaves at most a `.tmp-*` file (an `exclusive` write has no temp file:
 * a crash leaves its partial file under its own key). Folders left empty by a delete or move are
 * removed, so that a later object may take their name (S3 has no folders), except the folders a
 * caller names in `keepDirs`.
 *
 * The symlink check is made before each operation; a symlink swapped in concurrently by someone with
 * write access to the root is not defended against (that someone can already write anything).
 */
export class LocalDriver extends CheckedStorageDriver {
  readonly kind = 'Local' as const;
  readonly listsModTime = true;
  private readonly root: string;
  private realRoot?: string;
  private readonly dirSyncs = new DirSyncs();

  constructor(opts: LocalDriverOptions) {
    super();
    if (typeof opts?.rootDir !== 'string' || !path.isAbsolute(opts.rootDir))
      throw badArgument(`local storage root ${JSON.stringify(opts?.rootDir)} must be an absolute path`);
    this.root = path.resolve(opts.rootDir);
  }

  protected async headObject(key: string): Promise<{ size: number; modTime: Date } | null> {
    const abs = await this.resolveKey(key);
    try {
      const st = await stat(abs);
      return st.isFile() ? { size: st.size, modTime: st.mtime } : null;
    } catch (err) {
      if (isMissing(err)) return null;
      throw fsFailure('head', key, err);
    }
  }

  protected async readObject(key: string, range: ByteRange | undefined): Promise<Readable> {
    const abs = await this.resolveKey(key);
    let fh: FileHandle;
    try {
      fh = await open(abs, 'r');
    } catch (err) {
      if (isMissing(err) || (err as NodeJS.ErrnoException).code === 'EISDIR') throw new StorageKeyNotFoundError(key);
      throw fsFailure('read', key, err);
    }
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw new StorageKeyNotFoundError(key);
      let start = 0;
      let end = st.size - 1;
      if (range) {
        if (range.start >= st.size && !(st.size === 0 && range.start === 0)) throw rangeNotSatisfiable(range, st.size);
        start = range.start;
        end = Math.min(range.end ?? end, end);
      }
      if (end < start) {
        await fh.close();
        return Readable.from([]);
      }
      // The stream owns the handle from here (autoClose): destroying it closes the file.
      return fh.createReadStream({ start, end, highWaterMark: READ_HIGH_WATER_MARK });
    } catch (err) {
      await fh.close().catch(() => undefined);
      throw fsFailure('read', key, err);
    }
  }

  /**
   * One open file: fstat for the size check, one positioned read, close. Plain descriptors and the
   * callback API: a FileHandle costs about half as much again in CPU per small read (measured: 74 vs
   * 45 µs for open+fstat+read+close of 4 KiB), which shows at thousands of small reads a second.
   */
  protected override async readObjectBytes(key: string, expectedSize: number, range: ByteRange | undefined): Promise<Buffer> {
    let fd: number;
    try {
      // In a folder checked moments ago, O_NOFOLLOW stands in for the key's own lstat: a symlink there
      // fails the open (ELOOP) and takes the full check, which allows a link that stays inside.
      const quick = this.verifiedPath(key);
      fd = quick
        ? await fdOpen(quick, fsCallbacks.constants.O_RDONLY | fsCallbacks.constants.O_NOFOLLOW).catch(async (err: NodeJS.ErrnoException) => {
            if (err.code !== 'ELOOP') throw err;
            return fdOpen(await this.resolveKey(key), 'r');
          })
        : await fdOpen(await this.resolveKey(key), 'r');
    } catch (err) {
      if (err instanceof DomainError) throw err;
      if (isMissing(err) || (err as NodeJS.ErrnoException).code === 'EISDIR') throw new StorageKeyNotFoundError(key);
      throw fsFailure('read', key, err);
    }
    try {
      const st = await fdStat(fd);
      if (!st.isFile()) throw new StorageKeyNotFoundError(key);
      if (st.size !== expectedSize) throw sizeMismatch(key, st.size, expectedSize);
      const start = range?.start ?? 0;
      if (range && start >= st.size && !(st.size === 0 && start === 0)) throw rangeNotSatisfiable(range, st.size);
      const end = Math.min(range?.end ?? st.size - 1, st.size - 1);
      const buf = Buffer.allocUnsafe(Math.max(0, end - start + 1));
      for (let got = 0; got < buf.length; ) {
        const bytesRead = await fdRead(fd, buf, got, buf.length - got, start + got);
        if (bytesRead === 0) throw operationFailed(`local storage read of ${JSON.stringify(key)} ended early (the file shrank)`);
        got += bytesRead;
      }
      return buf;
    } catch (err) {
      throw fsFailure('read', key, err);
    } finally {
      fsCallbacks.close(fd, () => undefined);
    }
  }

  protected async writeObject(
    key: string,
    body: Readable,
    opts: WriteOptions,
  ): Promise<{ size: number }> {
    // An exclusive create (O_EXCL) fails on a symlink rather than following it: no leaf check needed.
    const abs = await this.resolveKey(key, opts.exclusive ? 'replaced' : 'check');
    const dir = path.dirname(abs);
    // An exclusive write creates `key` itself (its name is private to the writer), so what a crash
    // leaves is visible under that name; otherwise a hidden temp file is renamed over `key`.
    let partial = '';
    let fd: number | undefined;
    let watch: ReturnType<typeof watchBody> | undefined;
    try {
      // A concurrent delete may prune the freshly made folder before the file is created in it.
      for (let attempt = 0; ; attempt++) {
        // A folder checked moments ago exists (shard folders are never pruned): creating it again is
        // two syscalls per write for nothing. If it has gone after all, open says ENOENT and we make it.
        if (attempt > 0 || !this.isVerified(dir)) await this.makeDir(dir, key);
        const target = opts.exclusive ? abs : path.join(dir, `.tmp-${randomBytes(12).toString('hex')}`);
        try {
          fd = await fdOpen(target, 'wx', 0o644);
          partial = target;
          break;
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code === 'EEXIST' && opts.exclusive) throw operationFailed(`local storage cannot create ${key}: it exists already`);
          if (code !== 'ENOENT' || attempt >= 2) throw err;
        }
      }
      const counter = new ByteCounter(opts.size);
      // The stream owns the descriptor from here: `flush` fsyncs it before the stream closes it, and a
      // failed stream closes it too. A plain descriptor rather than a FileHandle: cheaper per file.
      const file = createWriteStream('', { fd, flush: true, highWaterMark: WRITE_HIGH_WATER_MARK });
      fd = undefined;
      watch = watchBody(body, [counter, file]);
      await pipeline(body, counter, file, { signal: opts.signal });
      // The time is set on the temp file, so the final name never shows the write's own time.
      if (opts.modTime) await utimes(partial, opts.modTime, opts.modTime);
      if (!opts.exclusive) await rename(partial, abs);
      partial = '';
      // A staging write is moved elsewhere by its caller, whose move makes the final name durable.
      if (!opts.staging) await this.dirSyncs.sync(dir);
      return { size: counter.bytes };
    } catch (err) {
      if (fd !== undefined) fsCallbacks.close(fd, () => undefined);
      if (partial) await unlink(partial).catch(() => undefined);
      if (watch?.bodyError !== undefined) throw watch.bodyError;
      if (err instanceof Error && err.name === 'AbortError') throw err;
      if ((err as NodeJS.ErrnoException).code === 'EISDIR')
        throw operationFailed(`local storage cannot write ${key}: a folder of that name exists`);
      throw fsFailure('write', key, err);
    } finally {
      watch?.dispose();
    }
  }

  protected async moveObject(fromKey: string, toKey: string, opts: PruneOptions): Promise<void> {
    const src = await this.resolveKey(fromKey);
    const dst = await this.resolveKey(toKey);
    try {
      for (let attempt = 0; ; attempt++) {
        const st = await stat(src).catch((err) => {
          if (isMissing(err)) return null;
          throw err;
        });
        if (!st?.isFile()) throw new StorageKeyNotFoundError(fromKey);
        if (attempt > 0 || !this.isVerified(path.dirname(dst))) await this.makeDir(path.dirname(dst), toKey);
        try {
          await rename(src, dst);
          break;
        } catch (err) {
          // ENOENT: the source vanished (the next round reports it) or the target folder was pruned.
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 2) throw err;
        }
      }
      // Only the new name must survive a crash. Journaling filesystems commit both directory entries
      // of a rename together; elsewhere a crash may leave the old name too, a duplicate, never a loss.
      await this.dirSyncs.sync(path.dirname(dst));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EISDIR' || (err as NodeJS.ErrnoException).code === 'ENOTEMPTY')
        throw operationFailed(`local storage cannot move to ${toKey}: a folder of that name exists`);
      throw fsFailure('move', fromKey, err);
    }
    await this.pruneEmptyDirs(path.dirname(src), opts);
  }

  protected async deleteObject(key: string, opts: PruneOptions): Promise<void> {
    const abs = await this.resolveKey(key);
    try {
      await unlink(abs);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // A folder is not an object: there is no object to delete.
      if (isMissing(err) || code === 'EISDIR' || code === 'EPERM') return;
      throw fsFailure('delete', key, err);
    }
    await this.pruneEmptyDirs(path.dirname(abs), opts);
  }

  protected async makeFolderObject(key: string): Promise<void> {
    const abs = await this.resolveKey(key);
    await this.makeDir(abs, key);
  }

  protected async *listObjects(prefix: string, pageSize: number, folders: boolean): AsyncGenerator<StorageEntry[]> {
    const realRoot = await this.rootRealPath();
    const slash = prefix.lastIndexOf('/');
    const baseKey = slash > 0 ? prefix.slice(0, slash) : '';
    const baseDir = baseKey ? await this.resolveKey(baseKey) : this.root;
    let page: StorageEntry[] = [];
    for await (const entry of this.walk(baseDir, baseKey, prefix, realRoot, folders)) {
      page.push(entry);
      if (page.length >= pageSize) {
        yield page;
        page = [];
      }
    }
    if (page.length > 0) yield page;
  }

  /**
   * Depth-first walk in key order: sorting a folder's files by name and its sub-folders by name + '/'
   * visits keys in exactly the byte order of the full keys, so pages come out globally sorted while
   * only one folder listing per level is held in memory. Symlinked folders are not descended (no
   * cycles, no escapes); a symlinked file is listed only when it resolves inside the root.
   */
  private async *walk(dirAbs: string, dirKey: string, prefix: string, realRoot: string, folders = false): AsyncGenerator<StorageEntry> {
    let listed = false;
    for await (const entry of this.walkFiles(dirAbs, dirKey, prefix, realRoot, folders)) {
      listed = true;
      yield entry;
    }
    // Nothing below it (its contents would have come just before this point): an empty folder. Its
    // key 'a/b/' sorts before anything after its contents, so the order stays byte order.
    if (folders && !listed && dirKey !== '' && `${dirKey}/`.startsWith(prefix)) {
      const st = await stat(dirAbs).catch(() => null);
      if (st?.isDirectory()) yield { key: `${dirKey}/`, size: 0, modTime: st.mtime };
    }
  }

  private async *walkFiles(dirAbs: string, dirKey: string, prefix: string, realRoot: string, folders: boolean): AsyncGenerator<StorageEntry> {
    let dirents: Dirent[];
    try {
      dirents = await readdir(dirAbs, { withFileTypes: true });
    } catch (err) {
      if (isMissing(err)) return;
      throw fsFailure('list', dirKey, err);
    }
    const items: { key: string; sortKey: string; isDir: boolean; abs: string }[] = [];
    for (const d of dirents) {
      if (TEMP_NAME.test(d.name)) continue;
      const key = dirKey ? `${dirKey}/${d.name}` : d.name;
      if (!isSafeKey(key)) continue; // a foreign file whose name no key can address
      const abs = path.join(dirAbs, d.name);
      if (d.isDirectory()) {
        const sub = `${key}/`;
        if (sub.startsWith(prefix) || prefix.startsWith(sub)) items.push({ key, sortKey: sub, isDir: true, abs });
      } else if ((d.isFile() || d.isSymbolicLink()) && key.startsWith(prefix)) {
        items.push({ key, sortKey: key, isDir: false, abs });
      }
    }
    items.sort((a, b) => compareKeys(a.sortKey, b.sortKey));
    // Files are stat'ed a batch at a time in parallel (a sequential await per file would leave the
    // thread pool idle), and yielded in key order.
    let batch: typeof items = [];
    const flush = async () => {
      const entries = await Promise.all(batch.map((item) => this.fileEntry(item.abs, item.key, realRoot)));
      batch = [];
      return entries.filter((e): e is StorageEntry => e !== null);
    };
    for (const item of items) {
      if (!item.isDir) {
        batch.push(item);
        if (batch.length >= STAT_BATCH) yield* await flush();
        continue;
      }
      if (batch.length) yield* await flush();
      yield* this.walk(item.abs, item.key, prefix, realRoot, folders);
    }
    if (batch.length) yield* await flush();
  }

  /** A listed file's entry, or null when it is gone, a broken link or a link leading outside the root. */
  private async fileEntry(abs: string, key: string, realRoot: string): Promise<StorageEntry | null> {
    try {
      const lst = await lstat(abs);
      if (lst.isSymbolicLink() && !isWithin(await realpath(abs), realRoot)) return null;
      const st = lst.isSymbolicLink() ? await stat(abs) : lst;
      return st.isFile() ? { key, size: st.size, modTime: st.mtime } : null;
    } catch (err) {
      if (isMissing(err) || (err as NodeJS.ErrnoException).code === 'ELOOP') return null; // gone meanwhile, or a broken link
      throw fsFailure('list', key, err);
    }
  }

  private async rootRealPath(): Promise<string> {
    if (this.realRoot) return this.realRoot;
    try {
      const real = await realpath(this.root);
      if (!(await stat(real)).isDirectory()) throw operationFailed(`local storage root ${this.root} is not a folder`);
      this.realRoot = real;
      return real;
    } catch (err) {
      if (err instanceof DomainError) throw err;
      const e = err as NodeJS.ErrnoException;
      throw operationFailed(`local storage root ${this.root} is not accessible: ${e.code ?? ''} ${e.message}`);
    }
  }

  /**
   * Folders whose real path was checked to lie inside the root, with when that check expires. A
   * realpath walks every component (a syscall each); shard stores hit the same few folders for every
   * object, so a recent check of the folder plus an lstat of the last component stands in for it.
   * 10 s: a shard store spreads blocks over 256 folders, and a shorter life re-walked most of them
   * for every upload; a folder swapped for a symlink by someone with write access to the root within
   * that time is the race the class comment already leaves to the filesystem's permissions.
   */
  private readonly verifiedDirs = new Map<string, number>();
  private static readonly VERIFIED_TTL_MS = 10_000;

  /**
   * The absolute path of `key`, after checking that its existing components stay inside the root.
   * `leaf: 'replaced'`: the caller's operation cannot follow or replace a symlink at the key itself (an
   * O_EXCL create fails on one), so only the folder is checked. Every other operation refuses a key
   * that is a symlink leading outside (a rename or unlink would not follow it either, but the contract
   * answers such a key with BadArgument whatever the operation).
   */
  private async resolveKey(key: string, leaf: 'check' | 'replaced' = 'check'): Promise<string> {
    const realRoot = await this.rootRealPath();
    const abs = path.join(this.root, ...key.split('/'));
    if (!isWithin(abs, this.root)) throw badArgument(`storage key ${JSON.stringify(key)} resolves outside the storage root`);
    const dir = path.dirname(abs);
    if (this.isVerified(dir)) {
      if (leaf === 'replaced') return abs;
      const last = await lstat(abs).catch((err) => {
        if (isMissing(err)) return null;
        throw fsFailure('resolve', key, err);
      });
      if (!last?.isSymbolicLink()) return abs; // a link goes through the full check below
    }
    // 'replaced': the key itself is never followed, so the check starts at its folder.
    for (let probe = leaf === 'replaced' ? dir : abs; ; probe = path.dirname(probe)) {
      let real: string;
      try {
        real = await realpath(probe);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ELOOP') throw badArgument(`storage key ${JSON.stringify(key)} runs into a symlink loop`);
        if (code !== 'ENOENT' && code !== 'ENOTDIR') throw fsFailure('resolve', key, err);
        if (probe === this.root) throw operationFailed(`local storage root ${this.root} is not accessible: ${code}`);
        const isLink = await lstat(probe).then(
          (s) => s.isSymbolicLink(),
          () => false,
        );
        if (isLink) throw badArgument(`storage key ${JSON.stringify(key)} runs into a dangling symlink`);
        continue;
      }
      if (!isWithin(real, realRoot))
        throw badArgument(`storage key ${JSON.stringify(key)} leads outside the storage root through a symlink`);
      if (probe === abs || probe === dir) this.markVerified(dir);
      return abs;
    }
  }

  /** The key's absolute path when its folder was checked recently (the key itself still needs a no-follow open), else undefined. */
  private verifiedPath(key: string): string | undefined {
    if (!this.realRoot) return undefined;
    const abs = path.join(this.root, ...key.split('/'));
    return isWithin(abs, this.root) && this.isVerified(path.dirname(abs)) ? abs : undefined;
  }

  private isVerified(dir: string): boolean {
    return (this.verifiedDirs.get(dir) ?? 0) > Date.now();
  }

  private markVerified(dir: string): void {
    if (this.verifiedDirs.size > 10_000) this.verifiedDirs.clear();
    this.verifiedDirs.set(dir, Date.now() + LocalDriver.VERIFIED_TTL_MS);
  }

  private async makeDir(dir: string, key: string): Promise<void> {
    try {
      // A concurrent prune may remove a parent between the levels mkdir -p creates: try again.
      for (let attempt = 0; ; attempt++) {
        try {
          await mkdir(dir, { recursive: true });
          return;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 4) throw err;
        }
      }
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOTDIR' || code === 'EEXIST')
        throw operationFailed(`local storage cannot store ${key}: one of its parent segments is an object`);
      throw err;
    }
  }

  /**
   * Removes now-empty folders from `dir` up to (not including) the root, or `opts.keepDirs` and every
   * folder above it; stops at the first non-empty one.
   */
  private async pruneEmptyDirs(dir: string, opts: PruneOptions): Promise<void> {
    const stop = opts.keepDirs !== undefined ? path.join(this.root, ...opts.keepDirs.split('/')) : this.root;
    for (let d = dir; d !== this.root && isWithin(d, this.root) && !isWithin(stop, d); d = path.dirname(d)) {
      try {
        await rmdir(d);
      } catch {
        return; // not empty (or already gone, or in use): leave it
      }
    }
  }
}

function isWithin(p: string, root: string): boolean {
  if (p === root) return true;
  return p.startsWith(root.endsWith(path.sep) ? root : root + path.sep);
}

function isSafeKey(key: string): boolean {
  try {
    assertSafeKey(key);
    return true;
  } catch {
    return false;
  }
}

function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/**
 * Folder fsyncs with group commit: a writer needs an fsync of its folder that started after its
 * rename. While one is running, every writer arriving meanwhile joins the single next one, so N
 * concurrent writes into one folder cost about two fsyncs instead of N, and none returns before its
 * name is durable.
 */
class DirSyncs {
  private readonly state = new Map<string, { running: Promise<void>; next?: Promise<void> }>();

  sync(dir: string): Promise<void> {
    const s = this.state.get(dir);
    if (!s) return this.start(dir);
    s.next ??= s.running.catch(() => undefined).then(() => {
      const st = this.state.get(dir);
      if (st) st.next = undefined;
      this.state.delete(dir);
      return this.start(dir);
    });
    return s.next;
  }

  private start(dir: string): Promise<void> {
    const running = fsyncDir(dir).finally(() => {
      const st = this.state.get(dir);
      if (st?.running === running && !st.next) this.state.delete(dir);
    });
    this.state.set(dir, { running });
    return running;
  }
}

async function fsyncDir(dir: string): Promise<void> {
  let fd: number | undefined;
  try {
    fd = await fdOpen(dir, 'r');
    await fdSync(fd);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // Some platforms and filesystems cannot fsync a folder; the rename itself has still happened.
    // ENOENT: a concurrent delete or move emptied the folder and pruned it; nothing left to flush.
    if (code !== 'EISDIR' && code !== 'EINVAL' && code !== 'EPERM' && code !== 'EBADF' && code !== 'ENOENT') throw err;
  } finally {
    if (fd !== undefined) fsCallbacks.close(fd, () => undefined);
  }
}

function fsFailure(op: string, key: string, err: unknown): Error {
  if (err instanceof DomainError) return err;
  const e = err as NodeJS.ErrnoException;
  return operationFailed(`local storage ${op} of ${JSON.stringify(key)} failed: ${e?.code ?? ''} ${e?.message ?? String(err)}`.trim());
}
