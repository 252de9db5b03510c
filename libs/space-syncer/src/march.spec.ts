import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { compareKeys, type StorageEntry } from '#storage';
import { march } from './march.js';

const entry = (key: string, size = 1): StorageEntry => ({ key, size, modTime: new Date(0) });
async function* paged(keys: string[]): AsyncGenerator<StorageEntry> {
  for (const k of keys) yield entry(k);
}
async function* strings(keys: string[]): AsyncGenerator<string> {
  yield* keys;
}
const sorted = (keys: string[]) => [...new Set(keys)].sort(compareKeys);

describe('march (sorted merge of listings)', () => {
  it('pairs each path with what every side holds, in byte order', async () => {
    const items = [];
    for await (const i of march(paged(['a', 'b/c', 'é']), [paged(['a', 'b/d']), paged(['b/c', 'z'])], strings(['a', 'b/d', 'é']))) items.push(i);
    expect(items.map((i) => [i.path, !!i.src, i.dests.map(Boolean), i.done])).toEqual([
      ['a', true, [true, false], true],
      ['b/c', true, [false, true], false],
      ['b/d', false, [true, false], true],
      ['z', false, [false, true], false],
      ['é', true, [false, false], true],
    ]);
  });

  it('visits every path of every side exactly once, whatever the listings', async () => {
    const key = fc.stringMatching(/^[a-c/é]{1,4}$/);
    await fc.assert(
      fc.asyncProperty(fc.array(key), fc.array(key), fc.array(key), async (s, d1, d2) => {
        const seen: string[] = [];
        for await (const i of march(paged(sorted(s)), [paged(sorted(d1)), paged(sorted(d2))])) {
          seen.push(i.path);
          expect(!!i.src).toBe(s.includes(i.path));
          expect(!!i.dests[0]).toBe(d1.includes(i.path));
          expect(!!i.dests[1]).toBe(d2.includes(i.path));
        }
        expect(seen).toEqual(sorted([...s, ...d1, ...d2]));
      }),
    );
  });

  it('refuses a listing that is not in byte order (a wrong merge could delete a live file)', async () => {
    const run = async () => {
      for await (const _ of march(paged(['b', 'a']), [])) void _;
    };
    await expect(run()).rejects.toThrow(/not in byte order/);
  });
});
