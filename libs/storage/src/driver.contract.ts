// The behaviour every StorageDriver promises, run against each backend by its spec file. Compiled with
// the library but only imported by tests.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { DomainError } from '#common';
import { StorageKeyNotFoundError, type StorageDriver, type StorageEntry } from './driver.js';

export interface DriverUnderTest {
  driver: StorageDriver;
  cleanup(): Promise<void>;
}

export interface ContractOptions {
  /** Backend-specific proof that a failed write left nothing behind (e.g. no temp files). */
  assertNoLeftovers?: (driver: StorageDriver) => Promise<void>;
  /**
   * A test server's bug, not a driver's: s3rver writes a PUT body straight to its object file and
   * keeps whatever arrived when the client aborts the request, where S3 and OBS reject a body
   * shorter than its Content-Length. With this set, a single-request write that fails midway is
   * only checked to have been cut short (never stored whole), then cleaned up.
   */
  serverKeepsTruncatedPuts?: boolean;
}

const MiB = 1024 * 1024;
const BIG = 200 * MiB;

export function runDriverContract(
  name: string,
  makeDriver: () => Promise<DriverUnderTest>,
  options: ContractOptions = {},
): void {
  describe(`${name} driver contract`, () => {
    let d: StorageDriver;
    let cleanup: (() => Promise<void>) | undefined;

    beforeAll(async () => {
      const made = await makeDriver();
      d = made.driver;
      cleanup = made.cleanup;
    });
    afterAll(async () => {
      await d?.close?.();
      await cleanup?.();
    });

    it('passes its own test() probe, at the top and under a folder', async () => {
      await d.test('');
      await d.test('probe/dir');
      await d.test('probe/dir/');
      expect(await keysUnder(d, 'probe/')).toEqual([]);
      expect(await keysUnder(d, '.probe')).toEqual([]);
    });

    it.each([
      ['empty', 0],
      ['1 byte', 1],
      ['1 MiB + 1', MiB + 1],
    ])('writes and reads back a %s body, with known and unknown size', async (label, size) => {
      const data = randomBytes(size);
      for (const known of [true, false]) {
        const key = `roundtrip/${label.replace(/ /g, '_')}-${known ? 'known' : 'unknown'}.bin`;
        const res = await d.write(key, Readable.from([data]), known ? { size } : {});
        expect(res.size).toBe(size);
        expect((await d.head(key))?.size).toBe(size);
        expect((await readAll(await d.createReadStream(key))).equals(data)).toBe(true);
      }
    });

    it.each([
      ['known', true],
      ['unknown', false],
    ])('streams a 200 MiB body of %s size and reads back the same SHA-256', async (label, known) => {
      const key = `big/${label}.bin`;
      const gen = seededStream(BIG, known ? 1 : 2);
      const res = await d.write(key, gen.stream, known ? { size: BIG } : {});
      expect(res.size).toBe(BIG);
      expect((await d.head(key))?.size).toBe(BIG);
      expect(await sha256(await d.createReadStream(key))).toBe(gen.digest());
      // A range deep inside the big object is exact too.
      const tail = await readAll(await d.createReadStream(key, { start: BIG - 5 * MiB - 3, end: BIG - 5 * MiB + 2 }));
      expect(tail.length).toBe(6);
      await d.delete(key);
      expect(await d.head(key)).toBeNull();
    }, 120_000);

    it('reads exact byte ranges', async () => {
      const data = randomBytes(MiB + 1);
      const key = 'ranges/obj.bin';
      await d.write(key, Readable.from([data]), { size: data.length });
      // Compared as hex of the exact slice: Jest's deep equality on MiB-sized Buffers is slow.
      const read = async (start: number, end?: number) => (await readAll(await d.createReadStream(key, { start, end }))).toString('hex');
      const slice = (start: number, endExclusive?: number) => data.subarray(start, endExclusive).toString('hex');
      expect(await read(0, 0)).toBe(slice(0, 1));
      expect(await read(data.length - 1, data.length - 1)).toBe(slice(data.length - 1));
      expect(await read(1000, 70_000)).toBe(slice(1000, 70_001));
      expect(await read(12_345)).toBe(slice(12_345));
      expect(await read(0)).toBe(slice(0));
      // An end past the object is clamped; a start past it is refused.
      expect(await read(data.length - 10, data.length + 100)).toBe(slice(data.length - 10));
      await expectCode(d.createReadStream(key, { start: data.length }), 'BadArgument');
      await expectCode(d.createReadStream(key, { start: 5, end: 4 }), 'BadArgument');
      await expectCode(d.createReadStream(key, { start: -1 }), 'BadArgument');
    });

    it('reads small objects and ranges into memory, after checking the whole object has the expected size', async () => {
      const data = randomBytes(70_001);
      const key = 'bytes/obj.bin';
      await d.write(key, Readable.from([data]), { size: data.length });
      const hex = async (range?: { start: number; end?: number }) => (await d.readBytes(key, { expectedSize: data.length, range })).toString('hex');
      expect(await hex()).toBe(data.toString('hex'));
      expect(await hex({ start: 0, end: 0 })).toBe(data.subarray(0, 1).toString('hex'));
      expect(await hex({ start: 1000, end: 5095 })).toBe(data.subarray(1000, 5096).toString('hex'));
      expect(await hex({ start: data.length - 10, end: data.length + 100 })).toBe(data.subarray(data.length - 10).toString('hex'));
      await expectCode(d.readBytes(key, { expectedSize: data.length, range: { start: data.length } }), 'BadArgument');
      // A size other than the recorded one (a truncated or replaced file) fails before any byte.
      const err = await d.readBytes(key, { expectedSize: data.length + 1 }).then(() => undefined, (e: unknown) => e);
      expect(err).toMatchObject({ code: 'OperationFailed', message: expect.stringContaining(`has ${data.length} bytes where ${data.length + 1} were recorded`) });
      expect(await d.readBytes('bytes/missing', { expectedSize: 1 }).then(() => undefined, (e: unknown) => e)).toBeInstanceOf(StorageKeyNotFoundError);
      const empty = 'bytes/empty';
      await d.write(empty, Readable.from([]), { size: 0 });
      expect((await d.readBytes(empty, { expectedSize: 0 })).length).toBe(0);
    });

    it('reports a missing key: head null, read StorageKeyNotFoundError', async () => {
      expect(await d.head('missing/nothing-here')).toBeNull();
      const err = await d.createReadStream('missing/nothing-here').then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(StorageKeyNotFoundError);
      expect(err).toMatchObject({ code: 'OperationFailed', message: 'object missing/nothing-here not found in storage' });
      expect(await d.head('missing')).toBeNull(); // a "folder" of keys is not an object
    });

    it('overwrites: the new content replaces the old, larger or smaller', async () => {
      const key = 'overwrite/obj';
      for (const size of [1000, 50_000, 10]) {
        const data = randomBytes(size);
        await d.write(key, Readable.from([data]), { size });
        expect((await d.head(key))?.size).toBe(size);
        expect((await readAll(await d.createReadStream(key))).equals(data)).toBe(true);
      }
    });

    it('keeps the modification time given to a write (small and multipart bodies), through overwrites and moves', async () => {
      const kept = new Date('2021-03-04T05:06:07.891Z');
      const small = randomBytes(100);
      await d.write('mtime/small.bin', Readable.from([small]), { size: small.length, modTime: kept });
      expect((await d.head('mtime/small.bin'))?.modTime.getTime()).toBe(kept.getTime());
      const big = seededStream(20 * MiB, 3);
      await d.write('mtime/big.bin', big.stream, { modTime: kept });
      expect((await d.head('mtime/big.bin'))?.modTime.getTime()).toBe(kept.getTime());
      if (d.listsModTime) {
        const listed = (await entriesUnder(d, 'mtime/')).map((e) => e.modTime.getTime());
        expect(listed).toEqual([kept.getTime(), kept.getTime()]);
      }
      // Whole seconds too (rclone writes them without a fraction).
      const later = new Date('2022-01-01T00:00:00.000Z');
      await d.write('mtime/small.bin', Readable.from([small]), { size: small.length, modTime: later });
      expect((await d.head('mtime/small.bin'))?.modTime.getTime()).toBe(later.getTime());
      await d.move('mtime/small.bin', 'mtime/moved.bin');
      expect((await d.head('mtime/moved.bin'))?.modTime.getTime()).toBe(later.getTime());
      // Without one, the time is the write's own.
      const before = Date.now() - 5000;
      await d.write('mtime/now.bin', Readable.from([small]), { size: small.length });
      expect((await d.head('mtime/now.bin'))!.modTime.getTime()).toBeGreaterThan(before);
      await expect(d.write('mtime/bad.bin', Readable.from([small]), { modTime: new Date(NaN) })).rejects.toMatchObject({ code: 'BadArgument' });
      for (const k of ['mtime/big.bin', 'mtime/moved.bin', 'mtime/now.bin']) await d.delete(k);
    });

    it("returns the new version's tag from a write, as the listing shows it (S3/OBS ETag; none on Local)", async () => {
      const small = randomBytes(1000);
      const a = await d.write('etag/small.bin', Readable.from([small]), { size: small.length });
      const b = await d.write('etag/big.bin', seededStream(20 * MiB, 4).stream, {});
      const listed = new Map((await entriesUnder(d, 'etag/')).map((e) => [e.key, e.etag]));
      expect(listed.get('etag/small.bin')).toBe(a.etag);
      expect(listed.get('etag/big.bin')).toBe(b.etag);
      if (d.kind === 'Local') expect([a.etag, b.etag]).toEqual([undefined, undefined]);
      else expect(a.etag).toMatch(/^[^"]+$/);
      for (const k of ['etag/small.bin', 'etag/big.bin']) await d.delete(k);
    });

    it('makes empty folders and lists them only when asked, in key order', async () => {
      await d.makeFolder('folders/empty');
      await d.makeFolder('folders/empty'); // again: fine
      await d.makeFolder('folders/a/deeper');
      await d.write('folders/a/file', Readable.from([Buffer.from('x')]), { size: 1 });
      await d.write('folders/full/file', Readable.from([Buffer.from('y')]), { size: 1 });
      expect(await keysUnder(d, 'folders/')).toEqual(['folders/a/file', 'folders/full/file']);
      const withFolders: string[] = [];
      for await (const page of d.list('folders/', { folders: true })) withFolders.push(...page.map((e) => e.key));
      expect(withFolders).toEqual(['folders/a/deeper/', 'folders/a/file', 'folders/empty/', 'folders/full/file']);
      expect(await d.head('folders/empty')).toBeNull(); // a folder is not an object
      for (const k of ['folders/a/file', 'folders/full/file']) await d.delete(k);
    });

    it('deletes; deleting a missing key is fine', async () => {
      const key = 'delete/a/b/obj';
      await d.write(key, Readable.from([Buffer.from('x')]), { size: 1 });
      await d.delete(key);
      expect(await d.head(key)).toBeNull();
      await expect(d.createReadStream(key)).rejects.toBeInstanceOf(StorageKeyNotFoundError);
      await d.delete(key);
      await d.delete('delete/never/existed');
      // With the object gone, its former "folder" name can hold an object.
      await d.write('delete/a', Readable.from([Buffer.from('yz')]), { size: 2 });
      expect((await d.head('delete/a'))?.size).toBe(2);
    });

    it('moves, overwriting the destination', async () => {
      const a = randomBytes(3000);
      const b = randomBytes(10);
      await d.write('move/src/a.bin', Readable.from([a]), { size: a.length });
      await d.write('move/dst/deep/b.bin', Readable.from([b]), { size: b.length });
      await d.move('move/src/a.bin', 'move/dst/deep/b.bin');
      expect(await d.head('move/src/a.bin')).toBeNull();
      expect((await readAll(await d.createReadStream('move/dst/deep/b.bin'))).equals(a)).toBe(true);
      await d.move('move/dst/deep/b.bin', 'move/other/c.bin');
      expect((await readAll(await d.createReadStream('move/other/c.bin'))).equals(a)).toBe(true);
      await d.move('move/other/c.bin', 'move/other/c.bin'); // onto itself: still there
      expect((await d.head('move/other/c.bin'))?.size).toBe(a.length);
      await expect(d.move('move/none', 'move/x')).rejects.toBeInstanceOf(StorageKeyNotFoundError);
      expect(await d.head('move/x')).toBeNull();
    });

    it('lists 1,050 keys under a prefix, each exactly once with its size, in pages', async () => {
      const sizes = new Map<string, number>();
      for (let i = 0; i < 1050; i++) sizes.set(`many/k${String(i).padStart(4, '0')}${i % 3 === 0 ? '/sub' : ''}`, i % 7);
      await d.write('manyx/outside', Readable.from([Buffer.from('o')]), { size: 1 }); // same string start, other prefix
      await inParallel([...sizes], 16, ([key, size]) => d.write(key, Readable.from([randomBytes(size)]), { size }));
      for (const pageSize of [1000, 100, 7]) {
        const pages: StorageEntry[][] = [];
        for await (const page of d.list('many/', { pageSize })) pages.push(page);
        const entries = pages.flat();
        expect(entries.length).toBe(1050);
        expect(new Set(entries.map((e) => e.key)).size).toBe(1050);
        for (const e of entries) {
          expect(sizes.get(e.key)).toBe(e.size);
          expect(Object.prototype.toString.call(e.modTime)).toBe('[object Date]'); // (fs Dates come from another realm than Jest's)
          expect(Math.abs(e.modTime.getTime() - Date.now())).toBeLessThan(3_600_000);
        }
        for (const page of pages) {
          expect(page.length).toBeLessThanOrEqual(pageSize);
          expect(page.length).toBeGreaterThan(0);
          expect(isSorted(page.map((e) => e.key))).toBe(true);
        }
        if (pageSize === 7) expect(pages.length).toBeGreaterThanOrEqual(150);
      }
    }, 120_000);

    it('filters by a plain string prefix', async () => {
      const keys = ['pf/a/b/x', 'pf/a/bc', 'pf/a/bd/y', 'pf/a/c', 'pf/ab', 'pf/b'];
      for (const key of keys) await d.write(key, Readable.from([Buffer.from(key)]), { size: Buffer.byteLength(key) });
      expect(await keysUnder(d, 'pf/a/b')).toEqual(['pf/a/b/x', 'pf/a/bc', 'pf/a/bd/y']);
      expect(await keysUnder(d, 'pf/a/b/')).toEqual(['pf/a/b/x']);
      expect(await keysUnder(d, 'pf/a/')).toEqual(['pf/a/b/x', 'pf/a/bc', 'pf/a/bd/y', 'pf/a/c']);
      expect(await keysUnder(d, 'pf/a')).toEqual(['pf/a/b/x', 'pf/a/bc', 'pf/a/bd/y', 'pf/a/c', 'pf/ab']);
      expect(await keysUnder(d, 'pf/b')).toEqual(['pf/b']);
      expect(await keysUnder(d, 'pf/nothing')).toEqual([]);
      expect(await keysUnder(d, 'pf/a/b/x')).toEqual(['pf/a/b/x']);
      const all = await keysUnder(d, '');
      expect(all).toEqual(expect.arrayContaining(keys));
      expect(isSorted(all)).toBe(true);
    });

    it('handles keys with spaces, unicode and URL-special characters', async () => {
      const keys = [
        'uni/with space/ä ö ü — 日本語 🚀.txt',
        'uni/plus+percent%20amp&eq=q?hash#.bin',
        "uni/quotes'\"<tag>;semi",
        'uni/ tab\tlead and trail ',
      ];
      for (const key of keys) {
        const data = Buffer.from(`content of ${key}`);
        await d.write(key, Readable.from([data]), { size: data.length });
        expect((await d.head(key))?.size).toBe(data.length);
        expect((await readAll(await d.createReadStream(key))).equals(data)).toBe(true);
      }
      expect(await keysUnder(d, 'uni/')).toEqual([...keys].sort(compareUtf8));
      await d.move(keys[0], 'uni/moved é.txt');
      expect(await d.head(keys[0])).toBeNull();
      expect(await d.head('uni/moved é.txt')).not.toBeNull();
      for (const key of [...keys.slice(1), 'uni/moved é.txt']) await d.delete(key);
      expect(await keysUnder(d, 'uni/')).toEqual([]);
    });

    it.each(
      ['../x', '/abs', 'a//b', 'a\0b', 'a\\b', '', 'a/./b', 'a/../b', 'a/', 'x'.repeat(1025)].map((k) => [
        k.length > 40 ? `of ${k.length} bytes` : JSON.stringify(k),
        k,
      ]),
    )('refuses the unsafe key %s with BadArgument on every operation', async (_label, key) => {
      const body = () => Readable.from([Buffer.from('x')]);
      await expectCode(d.head(key), 'BadArgument');
      await expectCode(d.createReadStream(key), 'BadArgument');
      await expectCode(d.write(key, body(), { size: 1 }), 'BadArgument');
      await expectCode(d.delete(key), 'BadArgument');
      await expectCode(d.move(key, 'ok/key'), 'BadArgument');
      await expectCode(d.move('ok/key', key), 'BadArgument');
    });

    it.each(['../', '/abs/', 'a//', '..', 'a\0b/'])('refuses the unsafe prefix %j', async (prefix) => {
      await expectCode(keysUnder(d, prefix), 'BadArgument');
      await expectCode(d.test(prefix), 'BadArgument');
    });

    it('refuses a bad declared size or page size', async () => {
      await expectCode(d.write('bad/size', Readable.from([Buffer.from('x')]), { size: -1 }), 'BadArgument');
      await expectCode(d.write('bad/size', Readable.from([Buffer.from('x')]), { size: 1.5 }), 'BadArgument');
      await expectCode(keysUnder(d, 'bad/', 0), 'BadArgument');
      expect(await d.head('bad/size')).toBeNull();
    });

    it.each([
      ['a known-size body (one request)', 5 * MiB, 100 * 1024],
      ['an unknown-size body (in parts)', undefined, 20 * MiB],
    ])('leaves nothing when %s fails midway', async (label, size, failAfter) => {
      const key = `failing/${size === undefined ? 'unknown' : 'known'}.bin`;
      const boom = new Error(`client went away (${label})`);
      const err = await d.write(key, failingBody(failAfter, boom), size === undefined ? {} : { size }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBe(boom);
      if (size !== undefined && options.serverKeepsTruncatedPuts) {
        expect((await d.head(key))?.size ?? 0).toBeLessThan(size);
        await d.delete(key);
      }
      expect(await d.head(key)).toBeNull();
      expect(await keysUnder(d, 'failing/')).toEqual([]);
      await options.assertNoLeftovers?.(d);
      // The key is still writable afterwards.
      await d.write(key, Readable.from([Buffer.from('ok')]), { size: 2 });
      expect((await d.head(key))?.size).toBe(2);
      await d.delete(key);
    }, 60_000);

    it('keeps the old object when an overwrite fails midway', async () => {
      const key = 'failing/keep.bin';
      const old = randomBytes(4096);
      await d.write(key, Readable.from([old]), { size: old.length });
      await expect(d.write(key, failingBody(64 * 1024, new Error('gone')))).rejects.toThrow('gone');
      expect((await readAll(await d.createReadStream(key))).equals(old)).toBe(true);
      await d.delete(key);
    });

    it('refuses a body that does not match its declared size, storing nothing', async () => {
      await expectCode(d.write('mismatch/short', Readable.from([Buffer.alloc(5)]), { size: 10 }), 'BadArgument');
      await expectCode(d.write('mismatch/long', Readable.from([Buffer.alloc(15)]), { size: 10 }), 'BadArgument');
      await expectCode(d.write('mismatch/long-parts', seededStream(17 * MiB, 3).stream, { size: 17 * MiB - 1 }), 'BadArgument');
      if (options.serverKeepsTruncatedPuts) {
        // The test server finishes storing the aborted PUT on its own time (it was seen landing after
        // an immediate check); by now, after the 17 MiB write, it has. It may hold a prefix, never all.
        expect((await d.head('mismatch/short'))?.size ?? 0).toBeLessThan(10);
        await d.delete('mismatch/short');
      }
      expect(await keysUnder(d, 'mismatch/')).toEqual([]);
      await options.assertNoLeftovers?.(d);
    }, 60_000);

    it('stops and stores nothing when the caller aborts the write', async () => {
      const ac = new AbortController();
      const endless = seededStream(Number.MAX_SAFE_INTEGER, 4).stream;
      setTimeout(() => ac.abort(), 300);
      const started = Date.now();
      await expect(d.write('aborted/obj', endless, { signal: ac.signal })).rejects.toMatchObject({ name: 'AbortError' });
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(await d.head('aborted/obj')).toBeNull();
      await options.assertNoLeftovers?.(d);
      await expect(d.write('aborted/obj', Readable.from([Buffer.from('x')]), { signal: ac.signal })).rejects.toMatchObject({
        name: 'AbortError',
      });
    }, 30_000);
  });
}

export interface RemoteDriverFactory {
  /** A driver for the backend at `endpoint` (an http URL), bucket `bucket`. */
  build(opts: { endpoint: string; bucket: string; requestTimeoutMs: number }): StorageDriver;
  /** The endpoint and bucket of a healthy server (read after the spec's beforeAll). */
  server(): { endpoint: string; bucket: string };
}

/** How a remote driver fails when its backend is absent, silent or misconfigured: OperationFailed, never a hang. */
export function runRemoteFailureContract(name: string, f: RemoteDriverFactory): void {
  describe(`${name} driver against a failing backend`, () => {
    it('fails test() with OperationFailed (502) within seconds when nothing listens on the port', async () => {
      const port = await closedPort();
      const driver = f.build({ endpoint: `http://127.0.0.1:${port}`, bucket: 'any', requestTimeoutMs: 2000 });
      const started = Date.now();
      const err = await driver.test('').then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toMatchObject({ code: 'OperationFailed', status: 502 });
      expect((err as Error).message).toMatch(/ECONNREFUSED/);
      expect(Date.now() - started).toBeLessThan(5_000);
      await expectCode(driver.head('k'), 'OperationFailed');
      await expectCode(driver.createReadStream('k'), 'OperationFailed');
      await expectCode(keysUnder(driver, ''), 'OperationFailed');
      await driver.close?.();
    }, 30_000);

    it('fails with OperationFailed (504) when the backend accepts connections but never answers', async () => {
      const silent = await blackHole();
      try {
        const driver = f.build({ endpoint: `http://127.0.0.1:${silent.port}`, bucket: 'any', requestTimeoutMs: 1000 });
        const started = Date.now();
        await expect(driver.test('')).rejects.toMatchObject({ code: 'OperationFailed', status: 504 });
        await expect(driver.head('k')).rejects.toMatchObject({ code: 'OperationFailed', status: 504 });
        expect(Date.now() - started).toBeLessThan(20_000);
        await driver.close?.();
      } finally {
        await silent.close();
      }
    }, 60_000);

    it("fails with OperationFailed carrying the backend's reason for a missing bucket", async () => {
      const { endpoint } = f.server();
      const driver = f.build({ endpoint, bucket: 'no-such-bucket-here', requestTimeoutMs: 5000 });
      const err = await driver.test('probe').then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toMatchObject({ code: 'OperationFailed', status: 502 });
      expect((err as Error).message).toMatch(/NoSuchBucket/);
      const readErr = await driver.createReadStream('k').then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(readErr).toMatchObject({ code: 'OperationFailed' });
      expect(readErr).not.toBeInstanceOf(StorageKeyNotFoundError);
      expect((readErr as Error).message).toMatch(/NoSuchBucket/);
      await expectCode(keysUnder(driver, ''), 'OperationFailed');
      await driver.close?.();
    });
  });
}

// ---- helpers ----------------------------------------------------------------------------------

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function sha256(stream: Readable): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of stream) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export async function keysUnder(d: StorageDriver, prefix: string, pageSize?: number): Promise<string[]> {
  const keys: string[] = [];
  for await (const page of d.list(prefix, pageSize === undefined ? {} : { pageSize })) keys.push(...page.map((e) => e.key));
  return keys;
}

async function entriesUnder(d: StorageDriver, prefix: string): Promise<StorageEntry[]> {
  const entries: StorageEntry[] = [];
  for await (const page of d.list(prefix)) entries.push(...page);
  return entries;
}

export async function expectCode(p: Promise<unknown>, code: string): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof DomainError)) throw new Error(`expected a ${code} DomainError, got ${err === undefined ? 'success' : String(err)}`);
  expect(err.code).toBe(code);
}

function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

function isSorted(keys: string[]): boolean {
  return keys.every((k, i) => i === 0 || compareUtf8(keys[i - 1], k) < 0);
}

/**
 * `size` pseudo-random bytes from a seeded xorshift32, generated chunk by chunk as the consumer pulls
 * (never held whole); `digest()` is their SHA-256, valid once the stream has been fully read.
 */
export function seededStream(size: number, seed: number, chunkSize = MiB): { stream: Readable; digest(): string } {
  const hash = createHash('sha256');
  let state = seed >>> 0 || 1;
  let produced = 0;
  let digest: string | undefined;
  const stream = new Readable({
    highWaterMark: chunkSize,
    read() {
      if (produced >= size) {
        digest ??= hash.digest('hex');
        this.push(null);
        return;
      }
      const n = Math.min(chunkSize, size - produced);
      const words = new Uint32Array(Math.ceil(n / 4));
      for (let i = 0; i < words.length; i++) {
        state ^= state << 13;
        state ^= state >>> 17;
        state ^= state << 5;
        words[i] = state;
      }
      const chunk = Buffer.from(words.buffer, 0, n);
      hash.update(chunk);
      produced += n;
      this.push(chunk);
    },
  });
  return {
    stream,
    digest() {
      if (digest === undefined) throw new Error('the stream has not been read to its end');
      return digest;
    },
  };
}

/** A body that delivers `bytes` bytes, then fails with `error`. */
export function failingBody(bytes: number, error: Error): Readable {
  let sent = 0;
  return new Readable({
    highWaterMark: 64 * 1024,
    read() {
      if (sent >= bytes) {
        // Fail asynchronously, as a socket would, after the consumer has had the bytes.
        setTimeout(() => this.destroy(error), 20);
        return;
      }
      const n = Math.min(64 * 1024, bytes - sent);
      sent += n;
      this.push(randomBytes(n));
    },
  });
}

async function inParallel<T>(items: T[], limit: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) await fn(items[next++]);
    }),
  );
}

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function blackHole(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
