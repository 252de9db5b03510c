import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestGateway, type Tenant, type TestGateway } from './support/gateway.js';
import { newPackage, uploadFiles } from './support/objects.js';
import {
  byteSorted,
  expectedPage,
  modelAfter,
  modelEntries,
  pageEntries,
  uploadInBatches,
  type Entry,
} from './support/objects-extra.js';

/**
 * `GET /v1/object/listByPath` (spec §5): exact path, plain-string prefix, delimiter listing, byte
 * order, maxKeys, and keyset pagination that neither repeats nor skips while objects come and go.
 * Every page is compared with a reference model computed over the paths that exist at that moment.
 */
describe('objects: listByPath', () => {
  let gw: TestGateway;
  let a: Tenant;

  beforeAll(async () => {
    gw = await startTestGateway();
    a = await gw.tenant();
  });
  afterAll(async () => gw?.stop());

  type Query = { path?: string; isPrefix?: boolean; noRecursive?: boolean; maxKeys?: number | string; continuationToken?: string };
  const list = (packageID: number, q: Query) => a.client.get('/v1/object/listByPath', { packageID, ...q });

  /**
   * Walks every page of a prefix listing and checks each page against the model over `live` as it is
   * when the page is asked for; `between` may change `live` (and the package) between pages.
   */
  async function walk(
    packageID: number,
    live: Map<string, number>,
    q: { path: string; noRecursive: boolean; maxKeys?: number },
    between?: (page: number, last: Entry) => Promise<void>,
  ): Promise<Entry[]> {
    const seen: Entry[] = [];
    let token: string | undefined;
    for (let page = 0; ; page++) {
      const remaining = modelAfter(modelEntries(live.keys(), q), seen[seen.length - 1]);
      const res = await list(packageID, { path: q.path, isPrefix: true, noRecursive: q.noRecursive, maxKeys: q.maxKeys, continuationToken: token });
      expect(res.status).toBe(200);
      const d = res.body.data;
      expect({ objects: d.objects.map((o: any) => o.path), commonPrefixes: d.commonPrefixes, isTruncated: d.isTruncated }).toEqual(
        expectedPage(remaining, q.maxKeys ?? 1000),
      );
      for (const o of d.objects) expect(o.objectID).toBe(live.get(o.path));
      seen.push(...pageEntries(d));
      if (!d.isTruncated) break;
      expect(typeof d.nextContinuationToken).toBe('string');
      expect(d.nextContinuationToken).not.toBe('');
      token = d.nextContinuationToken;
      await between?.(page, seen[seen.length - 1]!);
    }
    return seen;
  }

  describe('a small package with tricky names', () => {
    let pkg: number;
    const live = new Map<string, number>();
    const PATHS = [
      'a.txt',
      'a/b.txt',
      'a/c/d.txt',
      'a/c/e.txt',
      'a/d',
      'a%b',
      'a%/x',
      'a_b',
      'aXb',
      'ab',
      'dir/é.txt',
      'dir/z.txt',
      'dir/😀.txt', // astral plane: after U+FFFD in byte order, before it in UTF-16 order
      'dir/\uFFFD.txt',
      'dir/\uE000.txt',
      'dir/sub/1',
      'dir/sub/2',
      'dir/tab/1',
      'z/1',
      'Z',
      '~',
    ];

    beforeAll(async () => {
      pkg = await newPackage(a);
      const res = await uploadFiles(a, pkg, PATHS.map((p) => [p, Buffer.from(p)]));
      expect(res.body.code).toBe('OK');
      for (const o of res.body.data.uploadeds) live.set(o.path, o.objectID);
    });

    it('isPrefix=false (the default) matches the exact path only', async () => {
      for (const q of [{ path: 'a/b.txt' }, { path: 'a/b.txt', isPrefix: false }]) {
        const res = await list(pkg, q);
        expect(res.status).toBe(200);
        expect(res.body.data.objects.map((o: any) => o.path)).toEqual(['a/b.txt']);
        expect(res.body.data.objects[0]).toEqual(expect.objectContaining({ objectID: live.get('a/b.txt'), packageID: pkg, size: '7' }));
        expect(res.body.data.commonPrefixes).toEqual([]);
        expect(res.body.data.isTruncated).toBe(false);
      }
      expect((await list(pkg, { path: 'a' })).body.data.objects).toEqual([]);
      expect((await list(pkg, { path: 'a%b' })).body.data.objects.map((o: any) => o.path)).toEqual(['a%b']);
      expect((await list(pkg, { path: 'a_b' })).body.data.objects.map((o: any) => o.path)).toEqual(['a_b']);
      expect((await list(pkg, { path: 'dir/😀.txt' })).body.data.objects.map((o: any) => o.path)).toEqual(['dir/😀.txt']);
    });

    it('lists everything in byte order, which is not JavaScript’s UTF-16 order', async () => {
      const res = await list(pkg, { path: '', isPrefix: true });
      const got = res.body.data.objects.map((o: any) => o.path);
      expect(got).toEqual(byteSorted(PATHS));
      const dir = got.filter((p: string) => p.startsWith('dir/') && !p.startsWith('dir/sub') && !p.startsWith('dir/tab'));
      expect(dir).toEqual(['dir/z.txt', 'dir/é.txt', 'dir/\uE000.txt', 'dir/\uFFFD.txt', 'dir/😀.txt']);
      expect([...dir].sort()).not.toEqual(dir); // the plain sort puts the emoji first: the check can fail
    });

    it('a prefix is a plain string: % and _ are ordinary characters', async () => {
      const paths = async (path: string) => (await list(pkg, { path, isPrefix: true })).body.data.objects.map((o: any) => o.path);
      expect(await paths('a%')).toEqual(['a%/x', 'a%b']);
      expect(await paths('a_')).toEqual(['a_b']);
      expect(await paths('a%/')).toEqual(['a%/x']);
      expect(await paths('a/c/')).toEqual(['a/c/d.txt', 'a/c/e.txt']);
      expect(await paths('dir/\uFFFD')).toEqual(['dir/\uFFFD.txt']);
      expect(await paths('nothing')).toEqual([]);
    });

    it('noRecursive lists direct children and common prefixes ending in /', async () => {
      const res = await list(pkg, { path: '', isPrefix: true, noRecursive: true });
      expect(res.body.data.commonPrefixes).toEqual(['a%/', 'a/', 'dir/', 'z/']);
      expect(res.body.data.objects.map((o: any) => o.path)).toEqual(['Z', 'a%b', 'a.txt', 'aXb', 'a_b', 'ab', '~']);
      const sub = await list(pkg, { path: 'a/', isPrefix: true, noRecursive: true });
      expect(sub.body.data.commonPrefixes).toEqual(['a/c/']);
      expect(sub.body.data.objects.map((o: any) => o.path)).toEqual(['a/b.txt', 'a/d']);
      // A prefix that ends inside a segment: the common prefix runs to the next '/'.
      const partial = await list(pkg, { path: 'dir/s', isPrefix: true, noRecursive: true });
      expect(partial.body.data.commonPrefixes).toEqual(['dir/sub/']);
      expect(partial.body.data.objects).toEqual([]);
    });

    it('every page size from 1 up pages exactly like the model, recursive and with a delimiter', async () => {
      for (const q of [
        { path: '', noRecursive: false },
        { path: '', noRecursive: true },
        { path: 'dir/', noRecursive: true },
        { path: 'a', noRecursive: true },
      ]) {
        const n = modelEntries(live.keys(), q).length;
        for (let maxKeys = 1; maxKeys <= n + 1; maxKeys++) {
          const seen = await walk(pkg, live, { ...q, maxKeys });
          expect(seen).toEqual(modelEntries(live.keys(), q));
        }
      }
    });

    it('a page that ends on a common prefix resumes after everything under it, and only that', async () => {
      // a/ holds a/b.txt, a/c/(2 objects), a/d: a page of 2 ends on the common prefix a/c/.
      const first = await list(pkg, { path: 'a/', isPrefix: true, noRecursive: true, maxKeys: 2 });
      expect(first.body.data.objects.map((o: any) => o.path)).toEqual(['a/b.txt']);
      expect(first.body.data.commonPrefixes).toEqual(['a/c/']);
      expect(first.body.data.isTruncated).toBe(true);
      // Meanwhile: one more object under a/c/ (already reported through its prefix), and a/c0, which
      // sorts right after everything under a/c/ and must not be lost.
      const added = await uploadFiles(a, pkg, [
        ['a/c/zzz', Buffer.from('x')],
        ['a/c0', Buffer.from('y')],
      ]);
      for (const o of added.body.data.uploadeds) live.set(o.path, o.objectID);
      const second = await list(pkg, { path: 'a/', isPrefix: true, noRecursive: true, maxKeys: 2, continuationToken: first.body.data.nextContinuationToken });
      expect(second.body.data.commonPrefixes).toEqual([]);
      expect(second.body.data.objects.map((o: any) => o.path)).toEqual(['a/c0', 'a/d']);
      expect(second.body.data.isTruncated).toBe(false);
    });

    it('maxKeys 0, negative or not an integer is BadArgument', async () => {
      for (const maxKeys of ['0', '-1', '-1000', 'abc', '1.5', '']) {
        const res = await list(pkg, { path: '', isPrefix: true, maxKeys });
        expect({ maxKeys, status: res.status, code: res.body.code }).toEqual({ maxKeys, status: 400, code: 'BadArgument' });
      }
    });

    it('a continuation token it did not give out is BadArgument', async () => {
      const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64url');
      for (const continuationToken of [
        'garbage',
        '!!!!',
        b64('null'),
        b64('42'),
        b64('{}'),
        b64('{"after":1}'),
        b64('{"after":"a","from":"b"}'),
        b64('{"after":"a\\u0000b"}'),
        b64('{"from":"\\ud800"}'),
        b64('{"after":"A"}'), // before the prefix: not from a listing of this prefix
      ]) {
        const res = await list(pkg, { path: 'a', isPrefix: true, continuationToken });
        expect({ continuationToken, status: res.status, code: res.body.code }).toEqual({ continuationToken, status: 400, code: 'BadArgument' });
      }
    });

    it('a missing package is DataNotFound; a missing or malformed packageID is BadArgument', async () => {
      const missing = await list(987654321, { path: '', isPrefix: true });
      expect([missing.status, missing.body.code]).toEqual([404, 'DataNotFound']);
      const noId = await a.client.get('/v1/object/listByPath', { path: '' });
      expect([noId.status, noId.body.code]).toEqual([400, 'BadArgument']);
      const badBool = await list(pkg, { path: '', isPrefix: 'yes' as any });
      expect([badBool.status, badBool.body.code]).toEqual([400, 'BadArgument']);
    });

    it('a path with a NUL character is BadArgument (the edge refuses NUL in any query), not a failure', async () => {
      for (const isPrefix of [false, true]) {
        const res = await list(pkg, { path: 'a\u0000', isPrefix });
        expect([res.status, res.body.code, res.body.data]).toEqual([400, 'BadArgument', null]);
      }
    });
  });

  describe('2,500 objects with inserts and deletes between pages', () => {
    let pkg: number;
    const live = new Map<string, number>();
    const DIRS = [...Array.from({ length: 46 }, (_, i) => `d${String(i).padStart(2, '0')}`), 'é', '😀', '\uFFFD', '%_'];

    beforeAll(async () => {
      pkg = await newPackage(a);
      const files: Array<[string, Buffer]> = [];
      for (const d of DIRS) for (let j = 0; j < 50; j++) files.push([`big/${d}/f${String(j * 2).padStart(3, '0')}`, Buffer.from(`${d}${j}`)]);
      expect(files).toHaveLength(2500);
      for (const [p, id] of await uploadInBatches(a, pkg, files, 100)) {
        live.set(p, id);
      }
      expect(live.size).toBe(2500);
    });

    /** A deterministic sequence (LCG) so every run changes the same objects. */
    function rng(seed: number) {
      let x = seed;
      return (n: number) => {
        x = (Math.imul(x, 1103515245) + 12345) >>> 0;
        return x % n;
      };
    }

    /**
     * Between pages: deletes one object ahead of the cursor and one behind it, and inserts new objects
     * ahead of it, behind it and (for delimiter listings) as new directories and direct children.
     */
    function mutator(seed: number, deleted: Set<string>) {
      const next = rng(seed);
      let n = 0;
      return async (_page: number, last: Entry) => {
        const keys = byteSorted(live.keys());
        const ahead = new Set(modelAfter(keys.map((key) => ({ kind: 'object' as const, key })), last).map((e) => e.key));
        const behind = keys.filter((k) => !ahead.has(k));
        const aheadList = [...ahead];
        const victims = [aheadList[next(Math.max(aheadList.length, 1))], behind[next(Math.max(behind.length, 1))]].filter((k): k is string => !!k);
        const res = await a.client.post('/v1/object/delete', { objectIDs: victims.map((k) => live.get(k)) });
        expect(res.body.code).toBe('OK');
        for (const k of victims) {
          live.delete(k);
          deleted.add(k);
        }
        n++;
        const d = DIRS[next(DIRS.length)];
        const inserts: Array<[string, Buffer]> = [
          [`big/${d}/f${String(next(100) * 2 + 1).padStart(3, '0')}-${seed}-${n}`, Buffer.from('new')],
          [`big/${DIRS[next(DIRS.length)]}/g${seed}-${n}`, Buffer.from('new')],
          [`big/new${seed}-${n}/x`, Buffer.from('new')],
          [`big/top${seed}-${n}`, Buffer.from('new')],
        ];
        for (const [p, id] of await uploadInBatches(a, pkg, inserts)) live.set(p, id);
      };
    }

    /** What the brief promises a client: no entry twice, in order, and none that lived throughout skipped. */
    function expectWalkSound(seen: Entry[], before: Set<string>, deleted: Set<string>, q: { path: string; noRecursive: boolean }) {
      const keys = seen.map((e) => e.key);
      expect(new Set(keys).size).toBe(keys.length);
      expect(keys).toEqual(byteSorted(keys));
      const stayed = modelEntries(
        [...before].filter((p) => !deleted.has(p)),
        q,
      ).map((e) => e.key);
      const got = new Set(keys);
      expect(stayed.filter((k) => !got.has(k))).toEqual([]);
    }

    it('the default page is 1,000 entries, and maxKeys above 1,000 is clamped to 1,000', async () => {
      for (const maxKeys of [undefined, 1000, 1001, 5000, 999999999]) {
        const res = await list(pkg, { path: 'big/', isPrefix: true, maxKeys });
        expect(res.body.data.objects).toHaveLength(1000);
        expect(res.body.data.isTruncated).toBe(true);
        expect(res.body.data.objects.map((o: any) => o.path)).toEqual(byteSorted(live.keys()).slice(0, 1000));
      }
    });

    it('walks 1,000 at a time while objects are inserted and deleted', async () => {
      const before = new Set(live.keys());
      const deleted = new Set<string>();
      const q = { path: 'big/', noRecursive: false };
      const seen = await walk(pkg, live, q, mutator(1, deleted));
      expect(seen.length).toBeGreaterThan(2400);
      expectWalkSound(seen, before, deleted, q);
    });

    it('a delimiter listing of the 2,500 objects is one default page: its directories and the few objects added at its top', async () => {
      const q = { path: 'big/', noRecursive: true };
      const seen = await walk(pkg, live, q);
      expect(seen.length).toBeLessThan(1000);
      expect(seen.filter((e) => e.kind === 'prefix').map((e) => e.key)).toEqual(expect.arrayContaining(DIRS.map((d) => `big/${d}/`)));
    });

    it('walks 7 at a time while objects are inserted and deleted', async () => {
      const before = new Set(live.keys());
      const deleted = new Set<string>();
      const q = { path: 'big/', noRecursive: false, maxKeys: 7 };
      const mutate = mutator(7, deleted);
      const seen = await walk(pkg, live, q, (page, last) => (page % 4 === 0 ? mutate(page, last) : Promise.resolve()));
      expect(seen.length).toBeGreaterThan(2400);
      expectWalkSound(seen, before, deleted, q);
    });

    it('walks a delimiter listing 3 at a time while directories and objects come and go', async () => {
      const before = new Set(live.keys());
      const deleted = new Set<string>();
      const q = { path: 'big/', noRecursive: true, maxKeys: 3 };
      const seen = await walk(pkg, live, q, mutator(3, deleted));
      expect(seen.filter((e) => e.kind === 'prefix').length).toBeGreaterThanOrEqual(DIRS.length);
      expectWalkSound(seen, before, deleted, q);
    });

    it('walks one directory 7 at a time with a delimiter while it changes', async () => {
      const before = new Set(live.keys());
      const deleted = new Set<string>();
      const q = { path: 'big/d07/', noRecursive: true, maxKeys: 7 };
      const seen = await walk(pkg, live, q, mutator(11, deleted));
      expectWalkSound(seen, before, deleted, q);
    });
  });
});
