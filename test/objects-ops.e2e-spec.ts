import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { GarbageCollector } from '#garbage-collector';
import { startTestGateway, type Tenant, type TestGateway } from './support/gateway.js';
import { download, fullHashOf, newPackage, uploadFiles } from './support/objects.js';
import { byteSorted, shardFilesOnDisk, uploadPart } from './support/objects-extra.js';

/** getPackageObjects, move, delete and clone (spec §5), checked through downloads and the database. */
describe('objects: getPackageObjects, move, delete, clone', () => {
  let gw: TestGateway;
  let a: Tenant;
  let b: Tenant;
  let p1: number;
  let p2: number;
  let foreignPkg: number;
  let foreignObj: any;
  const MISSING = 987654321;

  beforeAll(async () => {
    // Grace 0 so a test can run the collector and prove a clone keeps its shards alive.
    gw = await startTestGateway({ JCS_GC_GRACE_SECONDS: '0', JCS_GC_READ_GRACE_SECONDS: '0' });
    a = await gw.tenant();
    b = await gw.tenant();
    p1 = await newPackage(a);
    p2 = await newPackage(a);
    foreignPkg = await newPackage(b);
    foreignObj = (await uploadFiles(b, foreignPkg, [['theirs', Buffer.from('b’s bytes')]])).body.data.uploadeds[0];
  });
  afterAll(async () => gw?.stop());

  /** Uploads random files into a package; returns path → {object, data}. */
  async function put(pkg: number, paths: string[], size = 1000) {
    const files = paths.map((p) => [p, randomBytes(size)] as [string, Buffer]);
    const res = await uploadFiles(a, pkg, files);
    expect(res.body.code).toBe('OK');
    return Object.fromEntries(res.body.data.uploadeds.map((o: any, i: number) => [o.path, { obj: o, data: files[i]![1] }])) as Record<
      string,
      { obj: any; data: Buffer }
    >;
  }
  const bytesOf = async (objectID: number) => {
    const r = await download(a, { objectID });
    expect(r.status).toBe(200);
    return r.bytes;
  };
  const byPath = (packageID: number, p: string) => download(a, { packageID, path: p }, {}, 'downloadByPath');
  const packageObjects = async (packageID: number) => (await a.client.get('/v1/object/getPackageObjects', { packageID })).body.data.objects;

  describe('getPackageObjects', () => {
    it('returns every object of the package, complete, in byte order', async () => {
      const pkg = await newPackage(a);
      const paths = ['b', 'a/x', 'é', '😀', '\uFFFD', 'a%', 'a_', 'A', 'a/b/c'];
      const up = await put(pkg, paths, 10);
      const res = await a.client.get('/v1/object/getPackageObjects', { packageID: pkg });
      expect(res.status).toBe(200);
      expect(res.body.data.objects).toEqual(byteSorted(paths).map((p) => up[p]!.obj));
    });

    it('an empty package has no objects; a missing package is DataNotFound', async () => {
      expect(await packageObjects(await newPackage(a))).toEqual([]);
      const missing = await a.client.get('/v1/object/getPackageObjects', { packageID: MISSING });
      expect([missing.status, missing.body.code]).toEqual([404, 'DataNotFound']);
      const bad = await a.client.get('/v1/object/getPackageObjects', { packageID: 'x' });
      expect([bad.status, bad.body.code]).toEqual([400, 'BadArgument']);
    });
  });

  describe('move', () => {
    it('moves within a package and across packages, keeping the objectID and the bytes', async () => {
      const up = await put(p1, ['mv/one', 'mv/two']);
      const one = up['mv/one']!;
      const two = up['mv/two']!;
      const res = await a.client.post('/v1/object/move', {
        movings: [
          { objectID: one.obj.objectID, packageID: p1, path: 'mv/renamed/one' },
          { objectID: two.obj.objectID, packageID: p2, path: 'moved-here/two' },
        ],
      });
      expect([res.status, res.body]).toEqual([200, { code: 'OK', message: '', data: { successes: [one.obj.objectID, two.obj.objectID] } }]);

      expect((await bytesOf(one.obj.objectID)).equals(one.data)).toBe(true);
      expect((await bytesOf(two.obj.objectID)).equals(two.data)).toBe(true);
      expect((await byPath(p1, 'mv/renamed/one')).bytes.equals(one.data)).toBe(true);
      expect((await byPath(p2, 'moved-here/two')).bytes.equals(two.data)).toBe(true);
      for (const [pkg, p] of [
        [p1, 'mv/one'],
        [p1, 'mv/two'],
        [p2, 'mv/two'],
      ] as const) {
        const gone = await byPath(pkg, p);
        expect([gone.status, gone.json().code]).toEqual([404, 'DataNotFound']);
      }
      const moved = (await packageObjects(p2)).find((o: any) => o.objectID === two.obj.objectID);
      expect(moved).toEqual({ ...two.obj, packageID: p2, path: 'moved-here/two', updateTime: expect.any(String) });
    });

    it('skips an occupied path, a missing or foreign package and a missing or foreign object', async () => {
      const up = await put(p1, ['sk/x1', 'sk/x2', 'sk/x3']);
      const [x1, x2, x3] = ['sk/x1', 'sk/x2', 'sk/x3'].map((p) => up[p]!);
      const res = await a.client.post('/v1/object/move', {
        movings: [
          { objectID: x1!.obj.objectID, packageID: p1, path: 'sk/x2' }, // occupied
          { objectID: x1!.obj.objectID, packageID: MISSING, path: 'sk/nowhere' },
          { objectID: x1!.obj.objectID, packageID: foreignPkg, path: 'stolen' },
          { objectID: MISSING, packageID: p1, path: 'sk/free' },
          { objectID: foreignObj.objectID, packageID: p1, path: 'sk/taken-from-b' },
          { objectID: x3!.obj.objectID, packageID: p1, path: 'sk/x3-moved' },
        ],
      });
      expect(res.body).toEqual({ code: 'OK', message: '', data: { successes: [x3!.obj.objectID] } });
      expect((await byPath(p1, 'sk/x1')).bytes.equals(x1!.data)).toBe(true);
      expect((await byPath(p1, 'sk/x2')).bytes.equals(x2!.data)).toBe(true);
      expect((await byPath(p1, 'sk/x3-moved')).bytes.equals(x3!.data)).toBe(true);
      for (const p of ['sk/free', 'sk/taken-from-b']) expect((await byPath(p1, p)).status).toBe(404);
      expect(await packageObjects(p1)).not.toContainEqual(expect.objectContaining({ objectID: foreignObj.objectID }));
      const theirs = await b.client.get('/v1/object/getPackageObjects', { packageID: foreignPkg });
      expect(theirs.body.data.objects).toEqual([foreignObj]);
    });

    it('applies a batch in order: two moves to one path, the first wins; a chain can swap two objects', async () => {
      const up = await put(p1, ['sw/a', 'sw/b', 'sw/c']);
      const [oa, ob, oc] = ['sw/a', 'sw/b', 'sw/c'].map((p) => up[p]!);
      const race = await a.client.post('/v1/object/move', {
        movings: [
          { objectID: oc!.obj.objectID, packageID: p1, path: 'sw/target' },
          { objectID: oa!.obj.objectID, packageID: p1, path: 'sw/target' },
        ],
      });
      expect(race.body.data.successes).toEqual([oc!.obj.objectID]);
      const swap = await a.client.post('/v1/object/move', {
        movings: [
          { objectID: oa!.obj.objectID, packageID: p1, path: 'sw/tmp' },
          { objectID: ob!.obj.objectID, packageID: p1, path: 'sw/a' },
          { objectID: oa!.obj.objectID, packageID: p1, path: 'sw/b' },
        ],
      });
      expect(swap.body.data.successes).toEqual([oa!.obj.objectID, ob!.obj.objectID, oa!.obj.objectID]);
      expect((await byPath(p1, 'sw/a')).bytes.equals(ob!.data)).toBe(true);
      expect((await byPath(p1, 'sw/b')).bytes.equals(oa!.data)).toBe(true);
      expect((await byPath(p1, 'sw/target')).bytes.equals(oc!.data)).toBe(true);
      // Moving an object onto the path it already has is a no-op that succeeds (a retried move stays OK).
      const again = await a.client.post('/v1/object/move', { movings: [{ objectID: ob!.obj.objectID, packageID: p1, path: 'sw/a' }] });
      expect(again.body.data.successes).toEqual([ob!.obj.objectID]);
    });

    it('concurrent moves and clones onto one free path: exactly one wins, the others are skipped', async () => {
      const paths = Array.from({ length: 8 }, (_, i) => `race/src${i}`);
      const up = await put(p1, paths);
      const answers = await Promise.all(
        paths.map((p, i) =>
          i % 2 === 0
            ? a.client.post('/v1/object/move', { movings: [{ objectID: up[p]!.obj.objectID, packageID: p2, path: 'race/winner' }] })
            : a.client.post('/v1/object/clone', { clonings: [{ objectID: up[p]!.obj.objectID, newPath: 'race/winner', newPackageID: p2 }] }),
        ),
      );
      for (const r of answers) expect([r.status, r.body.code]).toEqual([200, 'OK']);
      const winners = paths.filter((_, i) => (i % 2 === 0 ? answers[i]!.body.data.successes.length === 1 : answers[i]!.body.data.objects[0] !== null));
      expect(winners).toHaveLength(1);
      expect((await byPath(p2, 'race/winner')).bytes.equals(up[winners[0]!]!.data)).toBe(true);
      for (const [i, p] of paths.entries()) {
        const movedAway = p === winners[0] && i % 2 === 0;
        const left = await byPath(p1, p);
        if (movedAway) expect(left.status).toBe(404);
        else expect(left.bytes.equals(up[p]!.data)).toBe(true);
      }
    });

    it('an invalid target path is BadArgument and moves nothing of the batch', async () => {
      const up = await put(p1, ['bad/src']);
      const src = up['bad/src']!;
      for (const bad of ['', '/abs', 'a//b', 'a/', '../x', 'a/./b', 'a/../b', 'nul\u0000', 'x'.repeat(1025), 5]) {
        const res = await a.client.post('/v1/object/move', {
          movings: [
            { objectID: src.obj.objectID, packageID: p1, path: 'bad/would-move' },
            { objectID: src.obj.objectID, packageID: p1, path: bad },
          ],
        });
        expect({ bad, status: res.status, code: res.body.code }).toEqual({ bad, status: 400, code: 'BadArgument' });
      }
      expect((await byPath(p1, 'bad/src')).bytes.equals(src.data)).toBe(true);
      expect((await byPath(p1, 'bad/would-move')).status).toBe(404);
      for (const body of [{}, { movings: 'x' }, { movings: [{ objectID: '1', packageID: p1, path: 'q' }] }, { movings: [{ objectID: 1, path: 'q' }] }]) {
        const res = await a.client.post('/v1/object/move', body);
        expect([res.status, res.body.code]).toEqual([400, 'BadArgument']);
      }
    });
  });

  describe('delete', () => {
    it('deletes the listed objects; missing IDs are not an error; deleted objects are DataNotFound', async () => {
      const up = await put(p1, ['del/a', 'del/b', 'del/keep']);
      const ids = ['del/a', 'del/b'].map((p) => up[p]!.obj.objectID);
      const res = await a.client.post('/v1/object/delete', { objectIDs: [...ids, MISSING] });
      expect([res.status, res.body]).toEqual([200, { code: 'OK', message: '', data: null }]);
      for (const objectID of ids) {
        const r = await download(a, { objectID });
        expect([r.status, r.headers.get('content-type'), r.json().code]).toEqual([404, expect.stringMatching(/^application\/json/), 'DataNotFound']);
      }
      expect((await byPath(p1, 'del/a')).status).toBe(404);
      expect((await a.client.get('/v1/object/listByPath', { packageID: p1, path: 'del/', isPrefix: true })).body.data.objects.map((o: any) => o.path)).toEqual([
        'del/keep',
      ]);
      expect((await bytesOf(up['del/keep']!.obj.objectID)).equals(up['del/keep']!.data)).toBe(true);
      // Again, and an empty list: still fine.
      expect((await a.client.post('/v1/object/delete', { objectIDs: ids })).body).toEqual({ code: 'OK', message: '', data: null });
      expect((await a.client.post('/v1/object/delete', { objectIDs: [] })).body).toEqual({ code: 'OK', message: '', data: null });
    });

    it('deletes an open multipart upload and its parts', async () => {
      const open = (await a.client.post('/v1/object/newMultipartUpload', { packageID: p1, path: 'del/mpu' })).body.data.object;
      expect((await uploadPart(a, open.objectID, 0, randomBytes(100))).body.code).toBe('OK');
      await a.client.post('/v1/object/delete', { objectIDs: [open.objectID] });
      expect(await gw.sql('SELECT 1 FROM multipart_parts WHERE object_id = $1', [open.objectID])).toEqual([]);
      expect((await byPath(p1, 'del/mpu')).status).toBe(404);
    });

    it('malformed IDs are BadArgument', async () => {
      for (const objectIDs of [['1'], [0], [-3], [1.5], 'x', null]) {
        const res = await a.client.post('/v1/object/delete', { objectIDs });
        expect([res.status, res.body.code]).toEqual([400, 'BadArgument']);
      }
    });
  });

  describe('clone', () => {
    const shardsDir = () => path.join(gw.dataDir, 'tenants', String(a.userID), 'shards');
    const blocksOf = (objectID: number) =>
      gw.sql('SELECT index, user_space_id, file_hash, size FROM object_blocks WHERE object_id = $1 ORDER BY index', [objectID]);

    it('clones into the same and another package, aligned with the input; skipped entries are null', async () => {
      const up = await put(p1, ['cl/src', 'cl/occupied']);
      const src = up['cl/src']!;
      const shardRows = await gw.sql('SELECT count(*)::int AS n FROM shards');
      const filesBefore = shardFilesOnDisk(shardsDir());

      const res = await a.client.post('/v1/object/clone', {
        clonings: [
          { objectID: src.obj.objectID, newPath: 'cl/copy', newPackageID: p1 },
          { objectID: MISSING, newPath: 'cl/from-missing', newPackageID: p1 },
          { objectID: src.obj.objectID, newPath: 'cl/occupied', newPackageID: p1 },
          { objectID: src.obj.objectID, newPath: 'cl/src', newPackageID: p1 },
          { objectID: src.obj.objectID, newPath: 'stolen', newPackageID: foreignPkg },
          { objectID: src.obj.objectID, newPath: 'cl/x', newPackageID: MISSING },
          { objectID: foreignObj.objectID, newPath: 'cl/from-b', newPackageID: p1 },
          { objectID: src.obj.objectID, newPath: 'cl/copy2', newPackageID: p2 },
          { objectID: src.obj.objectID, newPath: 'cl/copy', newPackageID: p1 }, // taken by the first entry
        ],
      });
      expect(res.status).toBe(200);
      const out = res.body.data.objects;
      expect(out).toHaveLength(9);
      expect(out.map((o: any) => (o === null ? null : o.path))).toEqual(['cl/copy', null, null, null, null, null, null, 'cl/copy2', null]);
      const [c1, c2] = [out[0], out[7]];
      for (const [c, pkg] of [
        [c1, p1],
        [c2, p2],
      ]) {
        expect(c).toEqual({
          ...src.obj,
          objectID: expect.any(Number),
          packageID: pkg,
          path: c.path,
          createTime: expect.any(String),
          updateTime: expect.any(String),
        });
        expect(c.objectID).not.toBe(src.obj.objectID);
        expect((await bytesOf(c.objectID)).equals(src.data)).toBe(true);
        // The clone names the very same shard; nothing was stored again.
        expect(await blocksOf(c.objectID)).toEqual(await blocksOf(src.obj.objectID));
      }
      expect((await blocksOf(c1.objectID))[0].file_hash).toBe(fullHashOf(src.data));
      expect(await gw.sql('SELECT count(*)::int AS n FROM shards')).toEqual(shardRows);
      expect(shardFilesOnDisk(shardsDir())).toEqual(filesBefore);
      expect((await byPath(p1, 'cl/occupied')).bytes.equals(up['cl/occupied']!.data)).toBe(true);
      expect((await byPath(p1, 'cl/from-missing')).status).toBe(404);
      expect((await byPath(p1, 'cl/from-b')).status).toBe(404);
      expect((await b.client.get('/v1/object/getPackageObjects', { packageID: foreignPkg })).body.data.objects).toEqual([foreignObj]);
    });

    it('a clone outlives its source, even after garbage collection', async () => {
      const up = await put(p1, ['gc/src', 'gc/control']);
      const src = up['gc/src']!;
      const control = up['gc/control']!;
      const clone = (await a.client.post('/v1/object/clone', { clonings: [{ objectID: src.obj.objectID, newPath: 'gc/clone', newPackageID: p2 }] })).body.data
        .objects[0];
      await a.client.post('/v1/object/delete', { objectIDs: [src.obj.objectID, control.obj.objectID] });
      const report = await gw.app.get(GarbageCollector).run();
      expect(report.errors).toBe(0);
      // The collector did run: the control's shard, referenced by nothing, is gone...
      const file = (d: Buffer) => path.join(shardsDir(), 'blocks', fullHashOf(d).slice(4, 6), fullHashOf(d));
      expect(existsSync(file(control.data))).toBe(false);
      // ...and the clone's, shared with the deleted source, is not.
      expect(existsSync(file(src.data))).toBe(true);
      const got = await download(a, { objectID: clone.objectID });
      expect([got.status, got.bytes.equals(src.data)]).toEqual([200, true]);
    });

    it('clones a completed multipart object (all its segments shared); an open upload is not cloned', async () => {
      const open = (await a.client.post('/v1/object/newMultipartUpload', { packageID: p1, path: 'cl/mpu' })).body.data.object;
      const parts = [randomBytes(3000), randomBytes(5000)];
      for (const [i, d] of parts.entries()) expect((await uploadPart(a, open.objectID, i, d)).body.code).toBe('OK');
      const notYet = await a.client.post('/v1/object/clone', { clonings: [{ objectID: open.objectID, newPath: 'cl/mpu-early', newPackageID: p1 }] });
      expect(notYet.body.data.objects).toEqual([null]);
      const done = (await a.client.post('/v1/object/completeMultipartUpload', { objectID: open.objectID, indexes: [1, 0, 1] })).body.data.object;
      const whole = Buffer.concat([parts[1]!, parts[0]!, parts[1]!]);
      const filesBefore = shardFilesOnDisk(shardsDir());
      const clone = (await a.client.post('/v1/object/clone', { clonings: [{ objectID: open.objectID, newPath: 'cl/mpu-copy', newPackageID: p2 }] })).body.data
        .objects[0];
      expect(clone).toEqual({ ...done, objectID: clone.objectID, packageID: p2, path: 'cl/mpu-copy', createTime: expect.any(String), updateTime: expect.any(String) });
      expect(await blocksOf(clone.objectID)).toEqual(await blocksOf(open.objectID));
      expect(shardFilesOnDisk(shardsDir())).toEqual(filesBefore);
      expect((await bytesOf(clone.objectID)).equals(whole)).toBe(true);
      const range = await download(a, { objectID: clone.objectID, offset: 4990, length: 20 });
      expect(range.bytes.equals(whole.subarray(4990, 5010))).toBe(true);
    });

    it('an invalid newPath is BadArgument and clones nothing of the batch', async () => {
      const up = await put(p1, ['cb/src']);
      const src = up['cb/src']!;
      for (const bad of ['', '/abs', 'a//b', '..', 'nul\u0000', 7]) {
        const res = await a.client.post('/v1/object/clone', {
          clonings: [
            { objectID: src.obj.objectID, newPath: 'cb/would-clone', newPackageID: p1 },
            { objectID: src.obj.objectID, newPath: bad, newPackageID: p1 },
          ],
        });
        expect({ bad, status: res.status, code: res.body.code }).toEqual({ bad, status: 400, code: 'BadArgument' });
      }
      expect((await byPath(p1, 'cb/would-clone')).status).toBe(404);
    });
  });
});
