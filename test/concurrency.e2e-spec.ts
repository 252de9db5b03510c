import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { GarbageCollector } from '#garbage-collector';
import { startTestGateway, type Tenant, type TestGateway } from './support/gateway.js';
import { download, fullHashOf, newPackage, uploadFiles } from './support/objects.js';
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
    // GC at grace 0; the read grace short (2 s) so that tests see the collector act, and a read that
    // lasts longer must keep its shards alive itself.
    gw = await startTestGateway({ JCS_GC_GRACE_SECONDS: '0', JCS_GC_READ_GRACE_SECONDS: '2', JCS_BACKEND_TIMEOUT_MS: '3000' });
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

  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const shardFile = (t: Tenant, data: Buffer) => {
    const h = fullHashOf(data);
    return path.join(gw.dataDir, 'tenants', String(t.userID), 'shards', 'blocks', h.slice(4, 6), h);
  };

  it('a download serves one version (headers and bytes) while overwrites commit', async () => {
    const versions = [randomBytes(20_000), randomBytes(30_000), randomBytes(45_000)];
    const byEtag = new Map(versions.map((v) => [`"${fullHashOf(v)}"`, v]));
    expect((await uploadFiles(a, pkg, [['one/obj', versions[0]!]])).body.code).toBe('OK');
    let stop = false;
    const writer = (async () => {
      for (let i = 1; !stop && i < 400; i++) await uploadFiles(a, pkg, [['one/obj', versions[i % 3]!]]);
    })();
    const bad: string[] = [];
    await pool(300, 8, async () => {
      try {
        const got = await download(a, { packageID: pkg, path: 'one/obj' }, {}, 'downloadByPath');
        const v = byEtag.get(got.headers.get('etag') ?? '');
        if (got.status !== 200 || !v || !v.equals(got.bytes)) bad.push(`${got.status} ${got.headers.get('etag')} ${got.bytes.length}`);
      } catch (e) {
        bad.push(`cut: ${(e as Error).message}`);
      }
    });
    stop = true;
    await writer;
    expect(bad).toEqual([]);
  }, 120_000);

  it('a damaged shard is never served as a good full 200, and uploading the same content repairs it', async () => {
    const data = randomBytes(3 * 1024 * 1024 + 17);
    const obj = (await uploadFiles(a, pkg, [['dmg/file', data]])).body.data.uploadeds[0];
    const file = shardFile(a, data);
    const damaged = Buffer.from(readFileSync(file));
    damaged[damaged.length - 5] ^= 0x55; // same size, one byte changed near the end
    writeFileSync(file, damaged);

    // The body is cut short of its Content-Length (the last chunk is held back until verified).
    const res = await a.client.raw({ method: 'GET', path: '/v1/object/download', query: { objectID: obj.objectID } });
    expect(res.headers.get('content-length')).toBe(String(data.length));
    let received = 0;
    let cut = false;
    try {
      for await (const c of Readable.fromWeb(res.body as never)) received += (c as Buffer).length;
    } catch {
      cut = true;
    }
    expect({ cut, complete: received === data.length }).toEqual({ cut: true, complete: false });

    // The same content again (another path): stored afresh over the damaged file.
    expect((await uploadFiles(a, pkg, [['dmg/again', data]])).body.code).toBe('OK');
    const after = await download(a, { objectID: obj.objectID });
    expect([after.status, after.bytes.equals(data)]).toEqual([200, true]);
  }, 60_000);

  it('a damaged small shard is refused before the first byte, for the whole object and for any range of it', async () => {
    const data = randomBytes(4096);
    const obj = (await uploadFiles(a, pkg, [['dmg/small', data]])).body.data.uploadeds[0];
    const ranged = await a.client.raw({ method: 'GET', path: '/v1/object/download', query: { objectID: obj.objectID }, headers: { range: 'bytes=100-199' } });
    expect([ranged.status, Buffer.from(await ranged.arrayBuffer()).equals(data.subarray(100, 200))]).toEqual([206, true]);
    const file = shardFile(a, data);
    const damaged = Buffer.from(readFileSync(file));
    damaged[3000] ^= 0x01; // outside the range read below: a small shard is verified whole anyway
    writeFileSync(file, damaged);
    for (const headers of [{}, { range: "bytes=100-199" }] as Array<Record<string, string>>) {
      const res = await a.client.raw({ method: 'GET', path: '/v1/object/download', query: { objectID: obj.objectID }, headers });
      expect([res.status, await res.json()]).toEqual([500, { code: 'OperationFailed', message: expect.stringContaining('missing or damaged'), data: null }]);
    }
    expect((await uploadFiles(a, pkg, [['dmg/small-again', data]])).body.code).toBe('OK');
    const after = await download(a, { objectID: obj.objectID });
    expect([after.status, after.bytes.equals(data)]).toEqual([200, true]);
  });

  it('GC at grace 0 never breaks an in-flight multi-segment download', async () => {
    const parts = Array.from({ length: 4 }, () => randomBytes(8 * 1024 * 1024));
    const mpu = (await a.client.post('/v1/object/newMultipartUpload', { packageID: pkg, path: 'inflight/mpu' })).body.data.object;
    for (const [i, d] of parts.entries()) expect((await uploadPart(a, mpu.objectID, i, d)).body.code).toBe('OK');
    const done = await a.client.post('/v1/object/completeMultipartUpload', { objectID: mpu.objectID, indexes: [0, 1, 2, 3] });
    expect(done.body.code).toBe('OK');
    const whole = Buffer.concat(parts);

    const res = await a.client.raw({ method: 'GET', path: '/v1/object/download', query: { objectID: mpu.objectID } });
    expect(res.status).toBe(200);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const chunks: Buffer[] = [];
    const first = await reader.read();
    chunks.push(Buffer.from(first.value!));
    // The read stalls (later segments not yet opened) while the object is deleted and the collector
    // runs again and again, for longer than the read grace.
    expect((await a.client.post('/v1/object/delete', { objectIDs: [mpu.objectID] })).body.code).toBe('OK');
    const gc = gw.app.get(GarbageCollector);
    for (let i = 0; i < 16; i++) {
      await gc.run();
      await sleep(300);
    }
    for (;;) {
      const r = await reader.read();
      if (r.done) break;
      chunks.push(Buffer.from(r.value));
    }
    expect(Buffer.concat(chunks).equals(whole)).toBe(true);

    // Once the read is over, the collector does remove the shards.
    for (let i = 0; i < 20 && parts.some((d) => existsSync(shardFile(a, d))); i++) {
      await gc.run();
      await sleep(400);
    }
    expect(parts.map((d) => existsSync(shardFile(a, d)))).toEqual([false, false, false, false]);
  }, 120_000);

  it('GC skips an unreachable space and still collects the others', async () => {
    // Tenant u's S3 space (a closed port) holds the oldest doomed shards, first in the collector's order.
    const u = await gw.tenant();
    const space = await u.client.post('/v1/userSpace/create', {
      name: 'gone',
      storage: { type: 'S3', region: 'us-east-1', endpoint: 'http://127.0.0.1:9', bucket: 'b', forcePathStyle: true },
      credential: { type: 'S3', accessKeyId: 'a', secretAccessKey: 'b' },
      shardStore: { maxSize: 1 << 30 },
    });
    expect(space.body.code).toBe('OK');
    const spaceId = space.body.data.userSpace.userSpaceID;
    await gw.sql(
      `INSERT INTO shards (user_space_id, file_hash, size, touch_time)
       SELECT $1, 'Full' || upper(encode(sha256(i::text::bytea), 'hex')), 1, now() - interval '1 day' FROM generate_series(1, 450) i`,
      [spaceId],
    );
    // Tenant v's ordinary shards, unreferenced.
    const v = await gw.tenant();
    const vp = await newPackage(v);
    const datas = Array.from({ length: 5 }, () => randomBytes(500));
    const up = await uploadFiles(v, vp, datas.map((d, i) => [`x${i}`, d] as [string, Buffer]));
    await v.client.post('/v1/object/delete', { objectIDs: up.body.data.uploadeds.map((o: { objectID: number }) => o.objectID) });

    const gc = gw.app.get(GarbageCollector);
    await gc.run(); // dooms
    await sleep(2200); // past the read grace
    const report = await gc.run();
    expect(report.skippedSpaces).toEqual([spaceId]);
    expect(datas.map((d) => existsSync(shardFile(v, d)))).toEqual([false, false, false, false, false]);
    // The unreachable space's rows are left for a later run, not stuck as "deleting".
    const [{ n, deleting }] = await gw.sql(
      `SELECT count(*)::int AS n, count(deleting_since)::int AS deleting FROM shards WHERE user_space_id = $1`,
      [spaceId],
    );
    expect({ n, deleting }).toEqual({ n: 450, deleting: 0 });
  }, 120_000);
});

