import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { StripeLayout, referenceCodec } from '#redundancy';
import { filesUnder } from './support/contract.js';
import { startTestGateway, type Tenant, type TestGateway } from './support/gateway.js';
import { multipartBody } from './support/multipart.js';
import { download, fullHashOf, newPackage, uploadFiles } from './support/objects.js';

/** The redundancy write path (issue 9 §1–3, §7) over six Local spaces. */
describe('redundancy: write path, placement, quotas, block map', () => {
  let gw: TestGateway;
  let a: Tenant;
  let spaces: number[];
  const MAX = 64 * 1024 * 1024;

  beforeAll(async () => {
    gw = await startTestGateway({ JCS_GC_GRACE_SECONDS: '3600' });
    a = await gw.tenant();
    spaces = [];
    for (let i = 0; i < 6; i++) {
      const res = await a.client.post('/v1/userSpace/create', {
        name: `s${i}`,
        storage: { type: 'Local' },
        credential: { type: 'Local' },
        shardStore: { maxSize: MAX },
        workingDir: `wd-s${i}`,
      });
      expect(res.body.code).toBe('OK');
      spaces.push(res.body.data.userSpace.userSpaceID);
    }
  });
  afterAll(async () => gw?.stop());

  const blockFile = (fileHash: string) => {
    const hit = filesUnder(gw.dataDir).find((f) => f.endsWith(`/blocks/${fileHash.slice(4, 6)}/${fileHash}`));
    if (!hit) throw new Error(`no file for ${fileHash}`);
    return path.join(gw.dataDir, hit);
  };
  /** An upload with a Content-Length (the body in memory), as most clients send it. */
  const uploadSized = async (pkg: number, name: string, data: Buffer, redundancy: unknown) => {
    const { body, contentType } = multipartBody([
      { name: 'info', value: JSON.stringify({ packageID: pkg, redundancy }) },
      { name: 'files', filename: name, data },
    ]);
    const chunks: Buffer[] = [];
    for await (const c of body) chunks.push(c as Buffer);
    return a.client.json({ method: 'POST', path: '/v1/object/upload', body: Buffer.concat(chunks), headers: { 'content-type': contentType } });
  };
  const blocksOf = async (objectID: number) => (await a.client.get('/v1/object/blocks', { objectID })).body;

  it.each<[string, { type: string; repCount?: number; k?: number; n?: number; chunkSize?: number }]>([
    ['rep 3', { type: 'rep', repCount: 3 }],
    ['ec k=4 n=6', { type: 'ec', k: 4, n: 6, chunkSize: 64 * 1024 }],
    ['ec k=2 n=3 5 MiB chunks', { type: 'ec', k: 2, n: 3, chunkSize: 5 * 1024 * 1024 }],
    ['ec k=2 n=5', { type: 'ec', k: 2, n: 5, chunkSize: 4096 }],
  ])('%s: block files are the codec output, the block map reports them', async (_name, policy) => {
    const pkg = await newPackage(a);
    const data = randomBytes(700 * 1024 + 13);
    const res = await uploadFiles(a, pkg, [['x.bin', data]], { redundancy: policy });
    expect(res.body.code).toBe('OK');
    const obj = res.body.data.uploadeds[0];
    expect(obj.fileHash).toBe(fullHashOf(data));
    expect(obj.redundancy).toEqual(policy);
    const view = await blocksOf(obj.objectID);
    expect(view.code).toBe('OK');
    const { blocks } = view.data;
    const n = policy.type === 'rep' ? policy.repCount! : policy.n!;
    expect(blocks.map((b: any) => b.index)).toEqual([...Array(n).keys()]);
    expect(new Set(blocks.map((b: any) => b.userSpaceID)).size).toBe(n); // one per space (6 ≥ n)
    expect(blocks.every((b: any) => b.state === 'ok' && b.checkedAt === null)).toBe(true);
    const files = blocks.map((b: any) => readFileSync(blockFile(b.fileHash)));
    blocks.forEach((b: any, i: number) => {
      expect(b.fileHash).toBe(fullHashOf(files[i]));
      expect(Number(b.size)).toBe(files[i].length);
    });
    if (policy.type === 'rep') {
      files.forEach((f: Buffer) => expect(f.equals(data)).toBe(true));
      expect(view.data.toleratedSpaceLosses).toBe(2);
    } else {
      const { k, chunkSize } = policy as { k: number; n: number; chunkSize: number };
      const layout = new StripeLayout(data.length, k, chunkSize);
      files.forEach((f: Buffer) => expect(f.length).toBe(layout.blockSize));
      const padded = Buffer.concat([data, Buffer.alloc(layout.stripes * layout.stripeBytes - data.length)]);
      const codec = referenceCodec(k, n);
      for (let s = 0; s < layout.stripes; s++) {
        const chunks = Array.from({ length: k }, (_, i) => padded.subarray(s * layout.stripeBytes + i * chunkSize, s * layout.stripeBytes + (i + 1) * chunkSize));
        chunks.forEach((c, i) => expect(files[i].subarray(s * chunkSize, (s + 1) * chunkSize).equals(c)).toBe(true));
        const parity = await codec.encode(chunks);
        parity.forEach((p, j) => expect(files[k + j].subarray(s * chunkSize, (s + 1) * chunkSize).equals(p)).toBe(true));
      }
      expect(view.data.toleratedSpaceLosses).toBe(n - k);
    }
    // Read after write, whole and ranged (across a chunk boundary).
    expect((await download(a, { objectID: obj.objectID })).bytes.equals(data)).toBe(true);
    const ranged = await download(a, { objectID: obj.objectID, offset: 4000, length: 70_000 });
    expect(ranged.bytes.equals(data.subarray(4000, 74_000))).toBe(true);
  });

  it('none objects get granule sums; the block map of a foreign or unknown object is DataNotFound', async () => {
    const pkg = await newPackage(a);
    const data = randomBytes(200_000);
    const obj = (await uploadFiles(a, pkg, [['n.bin', data]])).body.data.uploadeds[0];
    expect(obj.redundancy).toEqual({ type: 'none' });
    const [row] = await gw.sql('SELECT granule_size, granule_sums FROM object_blocks WHERE object_id = $1', [obj.objectID]);
    expect(row.granule_size).toBe(65536);
    expect(row.granule_sums.length).toBe(4 * 4);
    const b = await gw.tenant();
    expect((await b.client.get('/v1/object/blocks', { objectID: obj.objectID })).body.code).toBe('DataNotFound');
    expect((await a.client.get('/v1/object/blocks', { objectID: 999999 })).body.code).toBe('DataNotFound');
  });

  it('auto picks by Content-Length and queues nothing when on the right side; empty objects are stored none', async () => {
    const pkg = await newPackage(a);
    const policy = { type: 'auto', threshold: 1024 * 1024, small: { type: 'rep', repCount: 2 }, large: { type: 'ec', k: 2, n: 3, chunkSize: 65536 } };
    const small = (await uploadSized(pkg, 's.bin', randomBytes(1000), policy)).body.data.uploadeds[0];
    expect(small.redundancy).toEqual({ type: 'rep', repCount: 2 });
    const large = (await uploadSized(pkg, 'l.bin', randomBytes(2 * 1024 * 1024), policy)).body.data.uploadeds[0];
    expect(large.redundancy).toEqual(policy.large);
    const { RedundancyJobs } = await import('#redundancy');
    const converts = gw.app.get(RedundancyJobs).converts;
    expect(await converts.getJob(`convert-object-${small.objectID}`)).toBeUndefined();
    expect(await converts.getJob(`convert-object-${large.objectID}`)).toBeUndefined();
    // Streamed (no Content-Length): the small policy, and a large file is queued for conversion.
    const streamed = (await uploadFiles(a, pkg, [['big.bin', randomBytes(2 * 1024 * 1024)]], { redundancy: policy })).body.data.uploadeds[0];
    expect(streamed.redundancy).toEqual(policy.small);
    expect((await converts.getJob(`convert-object-${streamed.objectID}`))?.data).toEqual({ userId: a.userID, objectId: streamed.objectID });
    const empty = (await uploadFiles(a, pkg, [['e.bin', Buffer.alloc(0)]], { redundancy: { type: 'ec', k: 2, n: 3, chunkSize: 64 } })).body.data.uploadeds[0];
    expect(empty.redundancy).toEqual({ type: 'none' });
    expect((await blocksOf(empty.objectID)).data.blocks).toHaveLength(1);
  });

  it.each([
    [{ type: 'ec', k: 3, n: 3, chunkSize: 64 }],
    [{ type: 'ec', k: 2, n: 33, chunkSize: 64 }],
    [{ type: 'ec', k: 2, n: 3, chunkSize: 100 }],
    [{ type: 'ec', k: 2, n: 3, chunkSize: 128 * 1024 * 1024 }],
    [{ type: 'raid' }],
    ['rep'],
  ])('bad policy %j is BadArgument on upload, package/create and setRedundancy', async (policy) => {
    const pkg = await newPackage(a);
    expect((await uploadFiles(a, pkg, [['b.bin', randomBytes(10)]], { redundancy: policy })).body.code).toBe('BadArgument');
    const bucket = (await a.client.post('/v1/bucket/create', { name: 'bad' + randomBytes(3).toString('hex') })).body.data.bucket;
    const created = await a.client.post('/v1/package/create', { bucketID: bucket.bucketID, name: 'x', redundancy: policy });
    expect(created.status).toBe(400);
    expect(created.body.code).toBe('BadArgument');
    expect((await a.client.post('/v1/package/setRedundancy', { packageID: pkg, redundancy: policy })).body.code).toBe('BadArgument');
  });

  it('package policy: create with one, setRedundancy changes it (null: back to the default); foreign packages are DataNotFound', async () => {
    const bucket = (await a.client.post('/v1/bucket/create', { name: 'pol' + randomBytes(3).toString('hex') })).body.data.bucket;
    const rep = { type: 'rep', repCount: 2 };
    const p = (await a.client.post('/v1/package/create', { bucketID: bucket.bucketID, name: 'x', redundancy: rep })).body.data.package;
    expect(p.redundancy).toEqual(rep);
    const o = (await uploadFiles(a, p.packageID, [['r.bin', randomBytes(5000)]])).body.data.uploadeds[0];
    expect(o.redundancy).toEqual(rep);
    expect((await a.client.get('/v1/package/redundancyStatus', { packageID: p.packageID })).body.data).toEqual({ conforming: 1, pending: 0, degraded: 0, failed: 0 });
    const set = await a.client.post('/v1/package/setRedundancy', { packageID: p.packageID, redundancy: null });
    expect(set.body.data.package.redundancy).toBeNull();
    // The default is none: the rep object is now pending its conversion.
    expect((await a.client.get('/v1/package/redundancyStatus', { packageID: p.packageID })).body.data).toEqual({ conforming: 0, pending: 1, degraded: 0, failed: 0 });
    const b = await gw.tenant();
    expect((await b.client.post('/v1/package/setRedundancy', { packageID: p.packageID, redundancy: rep })).body.code).toBe('DataNotFound');
    expect((await b.client.get('/v1/package/redundancyStatus', { packageID: p.packageID })).body.code).toBe('DataNotFound');
  });

  it('a space failing mid-upload: committed with quorum, the block recorded missing, a repair queued; below quorum nothing is committed', async () => {
    const pkg = await newPackage(a);
    // Break one space's temp folder: its block's write fails, the others go on.
    // Blocks go to the tenant's spaces by ID: the default space, then s0, s1, s2 for n=4.
    const f = filesUnder(gw.dataDir).find((x) => x.includes(`wd-s0/shards/`))!;
    const root = path.join(gw.dataDir, f.slice(0, f.indexOf(`wd-s0/shards/`)));
    const broken = [0, 1, 2].map((i) => {
      const tmp = path.join(root, `wd-s${i}`, 'shards', 'tmp');
      return path.join(tmp, readdirSync(tmp)[0]!); // this process's own temp folder
    });
    // A file where the temp folder was: the space's writes fail (ENOTDIR), even for root.
    const breakSpace = (d: string) => {
      renameSync(d, d + '.away');
      writeFileSync(d, 'not a folder');
    };
    const mend = (d: string) => {
      if (!existsSync(d + '.away')) return;
      rmSync(d);
      renameSync(d + '.away', d);
    };
    breakSpace(broken[0]!);
    try {
      const data = randomBytes(300_000);
      const res = await uploadFiles(a, pkg, [['q.bin', data]], { redundancy: { type: 'ec', k: 2, n: 4, chunkSize: 4096 } });
      expect(res.body.code).toBe('OK');
      const view = (await blocksOf(res.body.data.uploadeds[0].objectID)).data;
      expect(view.blocks.filter((b: any) => b.state === 'missing').map((b: any) => b.userSpaceID)).toEqual([spaces[0]]);
      expect(view.toleratedSpaceLosses).toBe(1);
      expect((await download(a, { objectID: res.body.data.uploadeds[0].objectID })).bytes.equals(data)).toBe(true);
      const { RedundancyJobs } = await import('#redundancy');
      const queued = await gw.app.get(RedundancyJobs).repairs.getJob(`repair-${res.body.data.uploadeds[0].objectID}`);
      expect(queued?.data).toEqual({ userId: a.userID, objectId: res.body.data.uploadeds[0].objectID });

      breakSpace(broken[1]!);
      breakSpace(broken[2]!);
      const before = Number((await gw.sql('SELECT count(*) AS n FROM objects'))[0].n);
      const below = await uploadFiles(a, pkg, [['r.bin', data]], { redundancy: { type: 'ec', k: 2, n: 4, chunkSize: 4096 } });
      expect(below.body.code).toBe('OperationFailed');
      expect(Number((await gw.sql('SELECT count(*) AS n FROM objects'))[0].n)).toBe(before);
    } finally {
      broken.forEach(mend);
    }
  });

  it('quotas are exact under 16 parallel uploads: never over maxSize, the failures are 507 and store nothing', async () => {
    const t = await gw.tenant();
    const limit = 1_000_000;
    const ids: number[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await t.client.post('/v1/userSpace/create', {
        name: `q${i}`,
        storage: { type: 'Local' },
        credential: { type: 'Local' },
        shardStore: { maxSize: limit },
        workingDir: `wd-q${i}`,
      });
      ids.push(res.body.data.userSpace.userSpaceID);
    }
    await gw.sql(`UPDATE user_spaces SET shard_store = $2::jsonb WHERE user_id = $1 AND is_default`, [t.userID, JSON.stringify({ maxSize: limit })]);
    ids.push(Number((await gw.sql('SELECT user_space_id FROM user_spaces WHERE user_id = $1 AND is_default', [t.userID]))[0].user_space_id));
    const pkg = await newPackage(t);
    const policy = { type: 'rep', repCount: 3 };
    const results = await Promise.all(
      Array.from({ length: 16 }, (_, i) => uploadFiles(t, pkg, [[`f${i}.bin`, randomBytes(150_000 + i)]], { redundancy: policy })),
    );
    const ok = results.filter((r) => r.body.code === 'OK');
    const failed = results.filter((r) => r.body.code !== 'OK');
    expect(failed.length).toBeGreaterThan(0);
    failed.forEach((r) => {
      expect(r.status).toBe(507);
      expect(r.body.code).toBe('QuotaExceeded');
    });
    const usage = await gw.sql('SELECT user_space_id, used_bytes FROM space_usage WHERE user_space_id = ANY($1::bigint[])', [ids]);
    usage.forEach((u) => expect(Number(u.used_bytes)).toBeLessThanOrEqual(limit));
    const stored = await gw.sql(
      `SELECT b.user_space_id, sum(b.size)::bigint AS s FROM object_blocks b JOIN objects o ON o.object_id = b.object_id
       WHERE o.package_id = $1 GROUP BY b.user_space_id`,
      [pkg],
    );
    stored.forEach((s) => expect(Number(s.s)).toBeLessThanOrEqual(limit));
    expect(Number((await gw.sql('SELECT count(*) AS n FROM objects WHERE package_id = $1', [pkg]))[0].n)).toBe(ok.length);
  });

  it('a policy change converts existing objects: redundancyStatus goes pending → conforming, the bytes stay', async () => {
    const pkg = await newPackage(a);
    const files = Array.from({ length: 5 }, (_, i) => [`c/${i}.bin`, randomBytes(50_000 + i * 7919)] as [string, Buffer]);
    const up = (await uploadFiles(a, pkg, files)).body.data.uploadeds;
    const ec = { type: 'ec', k: 2, n: 3, chunkSize: 4096 };
    expect((await a.client.post('/v1/package/setRedundancy', { packageID: pkg, redundancy: ec })).body.data.package.redundancy).toEqual(ec);
    const status = async () => (await a.client.get('/v1/package/redundancyStatus', { packageID: pkg })).body.data;
    expect(await status()).toEqual({ conforming: 0, pending: 5, degraded: 0, failed: 0 });
    const { ObjectConverter } = await import('#objects');
    const converter = gw.app.get(ObjectConverter);
    expect(await converter.sweep()).toBeGreaterThanOrEqual(1);
    expect(await converter.convertPackage(a.userID, pkg)).toEqual({ converted: 5, failed: 0 });
    expect(await status()).toEqual({ conforming: 5, pending: 0, degraded: 0, failed: 0 });
    // Idempotent: a second run finds nothing to do.
    expect(await converter.convertPackage(a.userID, pkg)).toEqual({ converted: 0, failed: 0 });
    for (const [i, o] of up.entries()) {
      const view = (await blocksOf(o.objectID)).data;
      expect(view.redundancy).toEqual(ec);
      expect(view.blocks).toHaveLength(3);
      const data = files[i]![1];
      const layout = new StripeLayout(data.length, 2, 4096);
      const b0 = readFileSync(blockFile(view.blocks[0].fileHash));
      const b1 = readFileSync(blockFile(view.blocks[1].fileHash));
      const joined = Buffer.alloc(layout.stripes * layout.stripeBytes);
      for (let s = 0; s < layout.stripes; s++) {
        b0.copy(joined, s * layout.stripeBytes, s * 4096, (s + 1) * 4096);
        b1.copy(joined, s * layout.stripeBytes + 4096, s * 4096, (s + 1) * 4096);
      }
      expect(joined.subarray(0, data.length).equals(data)).toBe(true);
      const [row] = await gw.sql('SELECT file_hash, update_time FROM objects WHERE object_id = $1', [o.objectID]);
      expect(row.file_hash).toBe(o.fileHash);
    }
    // An object overwritten since converts from its new version (the conversion reads what is there now).
    const back = { type: 'rep', repCount: 2 };
    await a.client.post('/v1/package/setRedundancy', { packageID: pkg, redundancy: back });
    const fresh = randomBytes(1234);
    const over = (await uploadFiles(a, pkg, [['c/0.bin', fresh]], { redundancy: { type: 'none' } })).body.data.uploadeds[0];
    expect(over.objectID).toBe(up[0].objectID);
    expect(await converter.convertObject(a.userID, over.objectID)).toBe('converted');
    expect((await download(a, { objectID: over.objectID })).bytes.equals(fresh)).toBe(true);
  });
});
