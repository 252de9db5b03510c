import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { LocalDriver, type StorageDriver, type WriteOptions } from '#storage';
import { copyToAll, copyWithRetries } from './copier.js';

/** A real Local driver whose writes go through a throttle (a slow destination) or fail after some bytes. */
function wrapped(inner: LocalDriver, behaviour: { delayMsPerChunk?: number; failAfter?: number; failTimes?: number }): StorageDriver {
  let failures = 0;
  return new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop !== 'write') return Reflect.get(target, prop, receiver);
      return (key: string, body: Readable, opts?: WriteOptions) => {
        let seen = 0;
        const fail = behaviour.failAfter !== undefined && failures < (behaviour.failTimes ?? Infinity);
        if (fail) failures++;
        const tap = new Transform({
          transform(chunk: Buffer, _enc, cb) {
            seen += chunk.length;
            if (fail && seen > behaviour.failAfter!) return cb(new Error('destination broke'));
            setTimeout(() => cb(null, chunk), behaviour.delayMsPerChunk ?? 0);
          },
        });
        body.on('error', (e) => tap.destroy(e));
        tap.on('error', () => undefined); // the driver sees it through its own pipeline
        return target.write(key, body.pipe(tap), opts);
      };
    },
  });
}

describe('copier', () => {
  let root: string;
  beforeAll(() => {
    root = mkdtempSync(path.join(tmpdir(), 'copier-'));
    for (const d of ['src', 'fast', 'slow', 'broken']) mkdirSync(path.join(root, d));
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const driver = (d: string) => new LocalDriver({ rootDir: path.join(root, d) });

  it('reads the source once for every destination, the slowest setting the pace; a failing one drops out, leaving nothing', async () => {
    const data = randomBytes(5 * 1024 * 1024 + 17);
    writeFileSync(path.join(root, 'src', 'f.bin'), data);
    const src = driver('src');
    let reads = 0;
    const counting = new Proxy(src, {
      get: (t, p, r) => (p === 'createReadStream' ? (...a: [string]) => (reads++, t.createReadStream(...a)) : Reflect.get(t, p, r)),
    });
    const modTime = new Date('2022-02-02T02:02:02.020Z');
    const out = await copyToAll(counting, 'f.bin', { size: data.length, modTime }, [
      { driver: driver('fast'), key: 'x/f.bin' },
      { driver: wrapped(driver('slow'), { delayMsPerChunk: 5 }), key: 'x/f.bin' },
      { driver: wrapped(driver('broken'), { failAfter: 2 * 1024 * 1024 }), key: 'x/f.bin' },
    ], { signal: new AbortController().signal });
    expect(reads).toBe(1);
    expect(out.sha256).toBe(createHash('sha256').update(data).digest('hex'));
    expect(out.errors.map((e) => e && /destination broke/.test(e.message))).toEqual([undefined, undefined, true]);
    for (const d of ['fast', 'slow']) {
      expect(readFileSync(path.join(root, d, 'x', 'f.bin')).equals(data)).toBe(true);
      expect(statSync(path.join(root, d, 'x', 'f.bin')).mtime.getTime()).toBe(modTime.getTime());
    }
    expect(readdirSync(path.join(root, 'broken', 'x'))).toEqual([]); // not even a temp file
  });

  it('retries only the destinations that failed, then reports the ones still failing', async () => {
    const data = randomBytes(300_000);
    writeFileSync(path.join(root, 'src', 'r.bin'), data);
    const flaky = wrapped(driver('broken'), { failAfter: 1000, failTimes: 1 });
    const out = await copyWithRetries(driver('src'), 'r.bin', { size: data.length, modTime: new Date() }, [
      { driver: driver('fast'), key: 'r.bin' },
      { driver: flaky, key: 'r.bin' },
      { driver: wrapped(driver('slow'), { failAfter: 10 }), key: 'never.bin' },
    ], { signal: new AbortController().signal, retry: { attempts: 3, baseDelayMs: 1 } });
    expect(out.errors.map((e) => e && /destination broke/.test(e.message))).toEqual([undefined, undefined, true]);
    expect(readFileSync(path.join(root, 'broken', 'r.bin')).equals(data)).toBe(true);
  });

  it('a source shorter than its listed size is refused everywhere (the size is always checked)', async () => {
    writeFileSync(path.join(root, 'src', 'short.bin'), randomBytes(100));
    const out = await copyToAll(driver('src'), 'short.bin', { size: 200, modTime: new Date() }, [{ driver: driver('fast'), key: 'short.bin' }], {
      signal: new AbortController().signal,
    });
    expect(out.errors[0]).toMatchObject({ code: 'BadArgument' });
    expect(readdirSync(path.join(root, 'fast'))).not.toContain('short.bin');
  });
});
