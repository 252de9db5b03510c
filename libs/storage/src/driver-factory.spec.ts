import { describe, expect, it } from '@jest/globals';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { createDriver, DriverCache, type CredentialSpec, type StorageSpec } from './driver-factory.js';
import type { StorageDriver } from './driver.js';
import { LocalDriver } from './local-driver.js';
import { ObsDriver } from './obs-driver.js';
import { S3Driver } from './s3-driver.js';

const opts = { requestTimeoutMs: 1000 };
const keys = { accessKeyId: 'ak', secretAccessKey: 'sk' };

describe('createDriver', () => {
  it('builds the driver for each storage type', async () => {
    const local = createDriver({ type: 'Local', rootDir: '/tmp' }, { type: 'Local' }, opts);
    const s3 = createDriver(
      { type: 'S3', region: 'us-east-1', endpoint: 'http://127.0.0.1:1', bucket: 'b', forcePathStyle: true },
      { type: 'S3', ...keys },
      opts,
    );
    const obs = createDriver(
      { type: 'OBS', region: 'cn-north-4', endpoint: 'http://127.0.0.1:1', bucket: 'b', projectID: 'p' },
      { type: 'OBS', ...keys },
      opts,
    );
    expect(local).toBeInstanceOf(LocalDriver);
    expect(s3).toBeInstanceOf(S3Driver);
    expect(obs).toBeInstanceOf(ObsDriver);
    expect([local.kind, s3.kind, obs.kind]).toEqual(['Local', 'S3', 'OBS']);
    await Promise.all([local.close?.(), s3.close?.(), obs.close?.()]);
  });

  it('refuses an unknown storage type or a credential of another type with BadArgument', () => {
    const badArgument = expect.objectContaining({ code: 'BadArgument' });
    expect(() => createDriver({ type: 'FTP' } as unknown as StorageSpec, { type: 'FTP' } as unknown as CredentialSpec, opts)).toThrow(
      badArgument,
    );
    expect(() => createDriver({ type: 'Local', rootDir: '/tmp' }, { type: 'S3', ...keys }, opts)).toThrow(badArgument);
    expect(() =>
      createDriver({ type: 'S3', region: 'r', endpoint: '', bucket: 'b' }, { type: 'OBS', ...keys }, opts),
    ).toThrow(badArgument);
    expect(() => createDriver({ type: 'Local', rootDir: 'relative' }, { type: 'Local' }, opts)).toThrow(badArgument);
    expect(() =>
      createDriver({ type: 'OBS', region: 'r', endpoint: 'not a url', bucket: 'b', projectID: 'p' }, { type: 'OBS', ...keys }, opts),
    ).toThrow(badArgument);
  });
});

/** A driver that records whether it was closed and can hold one operation open. */
function fakeDriver(name: string): StorageDriver & { closed: boolean; name: string } {
  return {
    kind: 'Local',
    listsModTime: true,
    name,
    closed: false,
    async close() {
      this.closed = true;
    },
    test: async () => undefined,
    head: async () => null,
    createReadStream: async () => Readable.from([]),
    readBytes: async () => Buffer.alloc(0),
    write: async () => ({ size: 0 }),
    move: async () => undefined,
    list: async function* () {},
    makeFolder: async () => undefined,
    delete: async () => undefined,
  };
}

describe('DriverCache', () => {
  it('reuses the driver while the revision is unchanged, rebuilds and closes the old one when it changes', async () => {
    const cache = new DriverCache();
    let builds = 0;
    const build = () => fakeDriver(`v${++builds}`);
    const a = cache.get('storage-1', 1, build) as ReturnType<typeof fakeDriver>;
    expect(cache.get('storage-1', 1, build)).toBe(a);
    expect(builds).toBe(1);
    const b = cache.get('storage-1', 2, build) as ReturnType<typeof fakeDriver>;
    expect(b).not.toBe(a);
    expect(b.name).toBe('v2');
    await Promise.resolve();
    expect(a.closed).toBe(true);
    expect(b.closed).toBe(false);
    const other = cache.get('storage-2', 2, build);
    expect(other).not.toBe(b); // keys are independent
    cache.evict('storage-1');
    await Promise.resolve();
    expect(b.closed).toBe(true);
    await cache.closeAll();
    expect((other as ReturnType<typeof fakeDriver>).closed).toBe(true);
  });

  it('lets a replaced driver finish the transfer it is running before it closes', async () => {
    const root = await mkdtemp(join(tmpdir(), 'driver-cache-'));
    try {
      const cache = new DriverCache();
      const old = cache.get('s', 1, () => new LocalDriver({ rootDir: root }));
      await old.write('k', Readable.from([Buffer.from('hello')]), { size: 5 });
      const reading = await old.createReadStream('k');
      cache.get('s', 2, () => new LocalDriver({ rootDir: root })); // closes `old` in the background
      let closed = false;
      const closing = old.close!().then(() => (closed = true)); // a second close, to observe when it happens
      await new Promise((r) => setTimeout(r, 20));
      expect(closed).toBe(false); // the open read stream holds it
      const chunks: Buffer[] = [];
      for await (const c of reading) chunks.push(c as Buffer);
      expect(Buffer.concat(chunks).toString()).toBe('hello');
      await closing;
      expect(closed).toBe(true);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
