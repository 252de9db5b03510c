import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { startTestGateway, type Tenant, type TestGateway } from './support/gateway.js';
import { download, newPackage, uploadFiles } from './support/objects.js';
import { uploadPart } from './support/objects-extra.js';

/** An answer that is not a contract error of the expected kinds is a failure (a 500 above all). */
const answer = (r: { status: number; body: { code: string } }) => `${r.status} ${r.body.code}`;

/** Runs `work(i)` for i in [0, n) with at most `limit` in flight. */
async function pool(n: number, limit: number, work: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < n) await work(next++);
    }),
  );
}

describe('storage under concurrency', () => {
  let gw: TestGateway;
  let a: Tenant;
  let pkg: number;

  beforeAll(async () => {
    gw = await startTestGateway();
    a = await gw.tenant();
    pkg = await newPackage(a);
  });
  afterAll(async () => gw?.stop());

  it('600 single-file uploads, 16 in flight into one tenant, all succeed', async () => {
    const failures: string[] = [];
    await pool(600, 16, async (i) => {
      const res = await uploadFiles(a, pkg, [[`c16/${i}`, randomBytes(64 + (i % 7))]]);
      if (res.status !== 200 || res.body.code !== 'OK') failures.push(`${i}: ${res.status} ${res.body.message}`);
    });
    expect(failures).toEqual([]);
    const listed = await a.client.get('/v1/object/listByPath', { packageID: pkg, path: 'c16/', isPrefix: true, maxKeys: 1000 });
    expect(listed.body.data.objects).toHaveLength(600);
  }, 240_000);

  it('two batch uploads of the same paths in opposite orders both succeed', async () => {
    const paths = Array.from({ length: 12 }, (_, i) => `opp/${String(i).padStart(2, '0')}`);
    const seen: string[] = [];
    for (let round = 0; round < 15; round++) {
      const x = randomBytes(32);
      const y = randomBytes(33);
      const [r1, r2] = await Promise.all([
        uploadFiles(a, pkg, paths.map((p) => [p, x] as [string, Buffer])),
        uploadFiles(a, pkg, [...paths].reverse().map((p) => [p, y] as [string, Buffer])),
      ]);
      seen.push(answer(r1), answer(r2));
      // Each batch is atomic: all paths hold the same one of the two versions.
      const sizes = new Set<number>();
      for (const p of paths) sizes.add((await download(a, { packageID: pkg, path: p }, {}, 'downloadByPath')).bytes.length);
      expect(sizes.size).toBe(1);
    }
    expect(new Set(seen)).toEqual(new Set(['200 OK']));
  }, 240_000);

  it('a package created while its bucket is deleted answers OK or DataNotFound', async () => {
    const seen = new Set<string>();
    for (let round = 0; round < 40; round++) {
      const b = (await a.client.post('/v1/bucket/create', { name: `race-${round}-${randomBytes(3).toString('hex')}` })).body.data.bucket;
      const [, created] = await Promise.all([
        a.client.post('/v1/bucket/delete', { bucketID: b.bucketID }),
        a.client.post('/v1/package/create', { bucketID: b.bucketID, name: 'p' }),
      ]);
      seen.add(answer(created));
    }
    for (const s of seen) expect(['200 OK', '404 DataNotFound']).toContain(s);
  }, 240_000);

  it('uploads, clones, moves and parts into a package being deleted answer OK or DataNotFound', async () => {
    const seen = new Set<string>();
    for (let round = 0; round < 20; round++) {
      const p = await newPackage(a);
      const src = (await uploadFiles(a, p, [['src', randomBytes(20)]])).body.data.uploadeds[0];
      const mpu = (await a.client.post('/v1/object/newMultipartUpload', { packageID: p, path: 'mpu' })).body.data.object;
      const results = await Promise.all([
        a.client.post('/v1/package/delete', { packageID: p }),
        uploadFiles(a, p, [['u1', randomBytes(10)], ['u2', randomBytes(11)]]),
        a.client.post('/v1/object/clone', { clonings: [{ objectID: src.objectID, newPath: 'c', newPackageID: p }] }),
        a.client.post('/v1/object/move', { movings: [{ objectID: src.objectID, packageID: p, path: 'moved' }] }),
        uploadPart(a, mpu.objectID, 0, randomBytes(100)),
      ]);
      for (const r of results.slice(1)) seen.add(answer(r));
    }
    for (const s of seen) expect(['200 OK', '404 DataNotFound']).toContain(s);
  }, 240_000);
});
