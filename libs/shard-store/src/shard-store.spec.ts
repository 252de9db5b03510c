import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { LocalDriver } from '#storage';
import { ShardStore } from './shard-store.js';

describe('ShardStore on a Local driver', () => {
  let root: string;
  let store: ShardStore;
  const noop = async () => undefined;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'shard-store-'));
    store = new ShardStore(new LocalDriver({ rootDir: root }), 'wd');
  });
  afterAll(async () => rm(root, { recursive: true, force: true }));

  it('parallel puts never fail on a shared folder pruned under them', async () => {
    // Half of the puts store content that is already there: their temp file is dropped at once,
    // which used to prune tmp/ while other puts were creating their temp files in it (ENOENT).
    const same = randomBytes(100);
    const failures: string[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (next < 3000) {
          const i = next++;
          const body = i % 2 ? same : randomBytes(50);
          await store.put(Readable.from([body]), { beforePublish: noop }).catch((e: Error) => failures.push(e.message));
        }
      }),
    );
    expect(failures).toEqual([]);
  }, 120_000);

  it('stages straight into its own visible temp key, with no hidden temp file', async () => {
    const body = new PassThrough();
    const staging = store.stage(body);
    body.write(randomBytes(10));
    let listed: string[] = [];
    for (let i = 0; i < 100 && listed.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 10));
      for await (const page of store.tmpEntries()) listed = page.map((e) => e.key);
    }
    // What a crash at this moment leaves is what the collector's sweep lists.
    expect(listed).toHaveLength(1);
    expect(listed[0]!.startsWith(store.ownTmpDir + '/')).toBe(true);
    expect(store.tmpOwner(listed[0]!)).toBe(store.instanceId);
    body.end(randomBytes(10));
    const staged = await staging;
    expect(staged.tmpKey).toBe(listed[0]);
    await store.discard([staged]);
  });

  it('publishing replaces a damaged stored copy of the same content', async () => {
    const data = randomBytes(4096);
    const first = await store.put(Readable.from([data]), { beforePublish: noop });
    const file = join(root, ...store.blockKey(first.fileHash).split('/'));
    const damaged = Buffer.from(data);
    damaged[7] ^= 0xff;
    await writeFile(file, damaged);
    await store.put(Readable.from([data]), { beforePublish: noop });
    expect((await readFile(file)).equals(data)).toBe(true);
  });
});
