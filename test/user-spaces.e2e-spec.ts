import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import path from 'node:path';
import { GarbageCollector } from '#garbage-collector';
import { S3Driver } from '#storage';
import { startTestGateway, type Tenant, type TestGateway } from './support/gateway.js';
import { download, newPackage, uploadFiles } from './support/objects.js';
import { startS3rver, type RunningS3rver } from './support/s3rver.js';

/** s3rver accepts only its own access key (it does not check signatures). */
const S3_CRED = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

describe('user spaces (spec §6)', () => {
  let gw: TestGateway;
  let s3: RunningS3rver;
  let a: Tenant;

  beforeAll(async () => {
    s3 = await startS3rver({ buckets: ['s3-space', 'obs-space'] });
    gw = await startTestGateway({ JCS_GC_GRACE_SECONDS: '0', JCS_GC_READ_GRACE_SECONDS: '0', JCS_BACKEND_TIMEOUT_MS: '3000' });
    a = await gw.tenant();
  });
  afterAll(async () => {
    await gw?.stop();
    await s3?.stop();
  });

  const s3Storage = (bucket = 's3-space') => ({ type: 'S3', region: 'us-east-1', endpoint: s3.endpoint, bucket, forcePathStyle: true });
  const obsStorage = (bucket = 'obs-space') => ({ type: 'OBS', region: 'cn-north-4', endpoint: s3.endpoint, bucket, projectID: 'p1' });
  const create = (t: Tenant, body: Record<string, unknown>) => t.client.post('/v1/userSpace/create', body);

  describe('create, get, update, delete', () => {
    it('creates an S3 space with the exact shape, the secret never returned', async () => {
      const res = await create(a, {
        name: 'my s3',
        storage: s3Storage(),
        credential: { type: 'S3', ...S3_CRED },
        shardStore: { maxSize: 1 << 30 },
        features: [{ type: 'MultipartUpload', minPartSize: 5242880, maxPartSize: 1073741824 }],
        workingDir: 'jcs',
      });
      expect(res.body).toEqual({
        code: 'OK',
        message: '',
        data: {
          userSpace: {
            userSpaceID: expect.any(Number),
            name: 'my s3',
            storage: s3Storage(),
            credential: { type: 'S3', accessKeyId: 'S3RVER', secretAccessKey: '' },
            shardStore: { maxSize: 1 << 30 },
            features: [{ type: 'MultipartUpload', minPartSize: 5242880, maxPartSize: 1073741824 }],
            workingDir: 'jcs',
            revision: 1,
          },
        },
      });
      const id = res.body.data.userSpace.userSpaceID;
      const got = await a.client.get('/v1/userSpace/get', { userSpaceID: id });
      expect(got.body.data.userSpace).toEqual(res.body.data.userSpace);
    });

    it('stores the credential encrypted: the row holds no plain secret', async () => {
      const secret = 'very-secret-' + randomBytes(8).toString('hex');
      const res = await create(a, { name: 'enc', storage: s3Storage(), credential: { type: 'S3', accessKeyId: 'AK1', secretAccessKey: secret } });
      const [row] = await gw.sql('SELECT * FROM user_spaces WHERE user_space_id = $1', [res.body.data.userSpace.userSpaceID]);
      expect(JSON.stringify(row)).not.toContain(secret);
      expect(row.credential_sealed).toMatch(/^v1\./);
      expect(JSON.stringify(res.body)).not.toContain(secret);
    });

    it('update renames, replaces the credential and bumps revision', async () => {
      const id = (await create(a, { name: 'before', storage: { type: 'Local', rootDir: 'upd' }, credential: { type: 'Local' } })).body.data.userSpace.userSpaceID;
      const res = await a.client.post('/v1/userSpace/update', { userSpaceID: id, name: 'after' });
      expect(res.body.data.userSpace).toMatchObject({ name: 'after', revision: 2 });
      const again = await a.client.post('/v1/userSpace/update', { userSpaceID: id, credential: { type: 'Local' } });
      expect(again.body.data.userSpace.revision).toBe(3);
    });

    it('delete: missing is OK; the default space is refused as a bad argument; refused while objects keep pieces there; allowed once they are gone', async () => {
      expect((await a.client.post('/v1/userSpace/delete', { userSpaceID: 99999999 })).body).toEqual({ code: 'OK', message: '', data: null });
      const [own] = await gw.sql<{ user_space_id: string }>('SELECT user_space_id FROM user_spaces WHERE user_id = $1 AND is_default', [a.userID]);
      const defaultRefused = await a.client.post('/v1/userSpace/delete', { userSpaceID: Number(own!.user_space_id) });
      expect([defaultRefused.status, defaultRefused.body.code]).toEqual([400, 'BadArgument']);
      expect((await a.client.get('/v1/userSpace/get', { userSpaceID: Number(own!.user_space_id) })).status).toBe(200);
      const id = (await create(a, { name: 'busy', storage: s3Storage(), credential: { type: 'S3', ...S3_CRED }, shardStore: { maxSize: 1 << 30 }, workingDir: 'busy' }))
        .body.data.userSpace.userSpaceID;
      const pkg = await newPackage(a);
      const obj = (await uploadFiles(a, pkg, [['x', Buffer.from('busy')]], { affinity: id })).body.data.uploadeds[0];
      const refused = await a.client.post('/v1/userSpace/delete', { userSpaceID: id });
      expect(refused.status).toBe(500);
      expect(refused.body.code).toBe('OperationFailed');
      await a.client.post('/v1/object/delete', { objectIDs: [obj.objectID] });
      expect((await a.client.post('/v1/userSpace/delete', { userSpaceID: id })).body.code).toBe('OK');
      expect((await a.client.get('/v1/userSpace/get', { userSpaceID: id })).status).toBe(404);
    });

    it.each([
      ['unknown storage type', { name: 'x', storage: { type: 'FTP' }, credential: { type: 'Local' } }],
      ['unknown credential type', { name: 'x', storage: { type: 'Local' }, credential: { type: 'Kerberos' } }],
      ['mismatched credential type', { name: 'x', storage: { type: 'Local' }, credential: { type: 'S3', accessKeyId: 'a', secretAccessKey: 'b' } }],
      ['S3 without bucket', { name: 'x', storage: { type: 'S3', region: 'r', endpoint: 'http://127.0.0.1:1' }, credential: { type: 'S3', accessKeyId: 'a', secretAccessKey: 'b' } }],
      ['S3 with a bad endpoint URL', { name: 'x', storage: { type: 'S3', region: 'r', endpoint: 'not a url', bucket: 'b' }, credential: { type: 'S3', accessKeyId: 'a', secretAccessKey: 'b' } }],
      ['credential without secret', { name: 'x', storage: { type: 'OBS', region: 'r', endpoint: 'http://127.0.0.1:1', bucket: 'b', projectID: 'p' }, credential: { type: 'OBS', accessKeyId: 'a' } }],
      ['missing storage', { name: 'x', credential: { type: 'Local' } }],
      ['Local root outside the allow-list', { name: 'x', storage: { type: 'Local', rootDir: '/etc' }, credential: { type: 'Local' } }],
      ['Local root escaping the tenant directory', { name: 'x', storage: { type: 'Local', rootDir: '../other' }, credential: { type: 'Local' } }],
      ['a workingDir escaping the root', { name: 'x', storage: { type: 'Local' }, credential: { type: 'Local' }, workingDir: '../up' }],
      ['a negative shardStore size', { name: 'x', storage: { type: 'Local' }, credential: { type: 'Local' }, shardStore: { maxSize: -1 } }],
    ])('refuses %s with BadArgument', async (_l, body) => {
      const res = await create(a, body);
      expect(res.status).toBe(400);
      expect(res.body).toEqual({ code: 'BadArgument', message: expect.any(String), data: null });
    });
  });

  describe('test', () => {
    it('answers null for a reachable S3 bucket and a Local folder', async () => {
      expect((await a.client.post('/v1/userSpace/test', { storage: s3Storage(), credential: { type: 'S3', ...S3_CRED }, workingDir: 'probe' })).body).toEqual({
        code: 'OK',
        message: '',
        data: null,
      });
      expect((await a.client.post('/v1/userSpace/test', { storage: obsStorage(), credential: { type: 'OBS', ...S3_CRED } })).body.code).toBe('OK');
      expect((await a.client.post('/v1/userSpace/test', { storage: { type: 'Local' }, credential: { type: 'Local' } })).body.code).toBe('OK');
    });

    // The tenant hears one fixed category, never the backend's words (they would tell it what answers
    // on the gateway's network: host, port, software); the detail goes to the server log.
    const LEAKS = /127\.0\.0\.1|:\d{2,5}\b|ECONN|s3rver|no-such-bucket|InvalidAccessKeyId|socket|bucket\//i;
    it.each([
      ['S3', 'a closed port', () => ({ ...s3Storage(), endpoint: 'http://127.0.0.1:1' }), S3_CRED, 'could not connect to the storage backend'],
      ['OBS', 'a closed port', () => ({ ...obsStorage(), endpoint: 'http://127.0.0.1:1' }), S3_CRED, 'could not connect to the storage backend'],
      ['S3', 'a missing bucket', () => s3Storage('no-such-bucket'), S3_CRED, 'the bucket does not exist'],
      ['OBS', 'a missing bucket', () => obsStorage('no-such-bucket'), S3_CRED, 'the bucket does not exist'],
      ['S3', 'an unknown access key', () => s3Storage(), { accessKeyId: 'NOT-S3RVER', secretAccessKey: 'x' }, 'the storage backend refused the credentials'],
    ])('answers OperationFailed with a fixed category for %s on %s', async (type, _l, storage, cred, category) => {
      const res = await a.client.post('/v1/userSpace/test', { storage: storage(), credential: { type, ...cred } });
      expect(res.status).toBe(502);
      expect(res.body).toEqual({ code: 'OperationFailed', message: `storage test failed: ${category}`, data: null });
      expect(res.body.message).not.toMatch(LEAKS);
    });

    it('answers "the storage backend answered an error" for a server that answers, but not as S3, without its words', async () => {
      const http = await import('node:http');
      const teller = http.createServer((_req, res) => {
        res.writeHead(500, { server: 'internal-admin-panel/1.2' });
        res.end('<html>internal admin panel v1.2 on db-host-7</html>');
      });
      await new Promise<void>((r) => teller.listen(0, '127.0.0.1', () => r()));
      try {
        const endpoint = `http://127.0.0.1:${(teller.address() as AddressInfo).port}`;
        const res = await a.client.post('/v1/userSpace/test', { storage: { ...s3Storage(), endpoint }, credential: { type: 'S3', ...S3_CRED } });
        expect(res.body).toEqual({ code: 'OperationFailed', message: 'storage test failed: the storage backend answered an error', data: null });
        expect(res.status).toBe(502);
      } finally {
        teller.close();
      }
    });

    it.each(['S3', 'OBS'])('answers OperationFailed (never hangs) when an %s backend accepts but never answers', async (type) => {
      const sockets = new Set<import('node:net').Socket>();
      const blackhole = createServer((sock) => void sockets.add(sock));
      await new Promise<void>((r) => blackhole.listen(0, '127.0.0.1', () => r()));
      const endpoint = `http://127.0.0.1:${(blackhole.address() as AddressInfo).port}`;
      try {
        const storage = type === 'S3' ? { ...s3Storage(), endpoint } : { ...obsStorage(), endpoint };
        const res = await a.client.post('/v1/userSpace/test', { storage, credential: { type, ...S3_CRED } });
        expect(res.status).toBe(504);
        expect(res.body).toEqual({ code: 'OperationFailed', message: 'storage test failed: timed out', data: null });
      } finally {
        sockets.forEach((s) => s.destroy());
        blackhole.close();
      }
    });

  });

  describe.each([
    ['S3', () => ({ storage: s3Storage(), credential: { type: 'S3', ...S3_CRED } })],
    ['OBS', () => ({ storage: obsStorage(), credential: { type: 'OBS', ...S3_CRED } })],
  ])('objects with affinity to an %s space', (kind, spec) => {
    let spaceId: number;
    let pkg: number;
    beforeAll(async () => {
      spaceId = (await create(a, { name: kind, ...spec(), shardStore: { maxSize: 1 << 30 }, workingDir: `wd-${kind}` })).body.data.userSpace.userSpaceID;
      pkg = await newPackage(a);
    });

    it('stores the shards there and reads them back byte-exact (also ranges), and GC removes them there', async () => {
      const data = randomBytes(3 * 1024 * 1024 + 17);
      const obj = (await uploadFiles(a, pkg, [[`${kind}/file.bin`, data]], { affinity: spaceId })).body.data.uploadeds[0];
      const [block] = await gw.sql('SELECT user_space_id FROM object_blocks WHERE object_id = $1', [obj.objectID]);
      expect(Number(block.user_space_id)).toBe(spaceId);
      const driver = new S3Driver({ endpoint: s3.endpoint, region: 'us-east-1', bucket: kind === 'S3' ? 's3-space' : 'obs-space', forcePathStyle: true, ...S3_CRED, requestTimeoutMs: 5000 });
      const key = `wd-${kind}/shards/blocks/${obj.fileHash.slice(4, 6)}/${obj.fileHash}`;
      expect(await driver.head(key)).toMatchObject({ size: data.length });
      expect((await download(a, { objectID: obj.objectID })).bytes.equals(data)).toBe(true);
      const part = await download(a, { objectID: obj.objectID }, { range: 'bytes=1000000-1000099' });
      expect(part.bytes.equals(data.subarray(1000000, 1000100))).toBe(true);

      await a.client.post('/v1/object/delete', { objectIDs: [obj.objectID] });
      await gw.app.get(GarbageCollector).run();
      expect(await driver.head(key)).toBeNull();
      await driver.close?.();
    });
  });

  describe('createPackage and downloadPackage', () => {
    it('imports a 1,000-file tree and writes it back out, file by file identical', async () => {
      const root = path.join(gw.dataDir, 'tenants', String(a.userID));
      const files = new Map<string, Buffer>();
      for (let i = 0; i < 1000; i++) {
        const rel = `tree/d${i % 10}/sub${i % 3}/file-${i}.bin`;
        const data = randomBytes(64 + (i % 200));
        files.set(rel.slice('tree/'.length), data);
        mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
        writeFileSync(path.join(root, rel), data);
      }
      const defaultSpace = (await gw.sql('SELECT user_space_id FROM user_spaces WHERE user_id = $1 AND is_default', [a.userID]))[0].user_space_id;
      const bucketID = (await a.client.post('/v1/bucket/create', { name: 'imports' })).body.data.bucket.bucketID;
      const res = await a.client.post('/v1/userSpace/createPackage', { userSpaceID: Number(defaultSpace), path: 'tree', bucketID, name: 'tree-pkg', spaceAffinity: Number(defaultSpace) });
      expect(res.body.data.package).toEqual({ packageID: expect.any(Number), name: 'tree-pkg', bucketID, createTime: expect.any(String), redundancy: null });
      const objects = (await a.client.get('/v1/object/getPackageObjects', { packageID: res.body.data.package.packageID })).body.data.objects;
      expect(objects).toHaveLength(1000);
      expect(new Set(objects.map((o: any) => o.path))).toEqual(new Set(files.keys()));

      const out = await a.client.post('/v1/userSpace/downloadPackage', { userSpaceID: Number(defaultSpace), packageID: res.body.data.package.packageID, rootPath: 'exported/copy' });
      expect(out.body).toEqual({ code: 'OK', message: '', data: null });
      for (const [rel, data] of files) expect(readFileSync(path.join(root, 'exported/copy', rel)).equals(data)).toBe(true);
      const written = readdirSync(path.join(root, 'exported/copy'), { recursive: true, withFileTypes: true }).filter((e) => e.isFile());
      expect(written).toHaveLength(1000);
    });

    it('imports a single file under its base name', async () => {
      const root = path.join(gw.dataDir, 'tenants', String(a.userID));
      writeFileSync(path.join(root, 'single.txt'), 'just me');
      const space = Number((await gw.sql('SELECT user_space_id FROM user_spaces WHERE user_id = $1 AND is_default', [a.userID]))[0].user_space_id);
      const bucketID = (await a.client.post('/v1/bucket/create', { name: 'single' })).body.data.bucket.bucketID;
      const pkg = (await a.client.post('/v1/userSpace/createPackage', { userSpaceID: space, path: 'single.txt', bucketID, name: 'one' })).body.data.package;
      const objs = (await a.client.get('/v1/object/getPackageObjects', { packageID: pkg.packageID })).body.data.objects;
      expect(objs.map((o: any) => o.path)).toEqual(['single.txt']);
    });

    it('leaves no package behind when the import fails, and refuses paths escaping the root', async () => {
      const space = Number((await gw.sql('SELECT user_space_id FROM user_spaces WHERE user_id = $1 AND is_default', [a.userID]))[0].user_space_id);
      const bucketID = (await a.client.post('/v1/bucket/create', { name: 'failing' })).body.data.bucket.bucketID;
      const missing = await a.client.post('/v1/userSpace/createPackage', { userSpaceID: space, path: 'does/not/exist', bucketID, name: 'ghost' });
      expect(missing.body.code).toBe('DataNotFound');
      const escape = await a.client.post('/v1/userSpace/createPackage', { userSpaceID: space, path: '../../etc', bucketID, name: 'ghost' });
      expect(escape.status).toBe(400);
      expect(escape.body.code).toBe('BadArgument');
      const badRoot = await a.client.post('/v1/userSpace/downloadPackage', { userSpaceID: space, packageID: 1, rootPath: '../x' });
      expect([400, 404]).toContain(badRoot.status);
      expect((await a.client.get('/v1/package/listBucketPackages', { bucketID })).body.data.packages).toEqual([]);
    });
  });

  describe('isolation', () => {
    it('tenant B gets DataNotFound for A’s user space on every route, and A’s space is unchanged', async () => {
      const b = await gw.tenant();
      const aSpace = (await create(a, { name: 'a-only', storage: { type: 'Local', rootDir: 'a-only' }, credential: { type: 'Local' }, shardStore: { maxSize: 1 << 20 } }))
        .body.data.userSpace;
      const aPkg = await newPackage(a);
      const bBucket = (await b.client.post('/v1/bucket/create', { name: 'b' })).body.data.bucket.bucketID;
      const bPkg = await newPackage(b);
      const calls: Array<[string, () => Promise<{ status: number; body: any }>]> = [
        ['get', () => b.client.get('/v1/userSpace/get', { userSpaceID: aSpace.userSpaceID })],
        ['update', () => b.client.post('/v1/userSpace/update', { userSpaceID: aSpace.userSpaceID, name: 'stolen' })],
        ['createPackage', () => b.client.post('/v1/userSpace/createPackage', { userSpaceID: aSpace.userSpaceID, path: '', bucketID: bBucket, name: 'x' })],
        ['downloadPackage (A space)', () => b.client.post('/v1/userSpace/downloadPackage', { userSpaceID: aSpace.userSpaceID, packageID: bPkg, rootPath: 'x' })],
      ];
      for (const [label, call] of calls) {
        const res = await call();
        expect([label, res.status, res.body.code]).toEqual([label, 404, 'DataNotFound']);
      }
      // B's own space, A's package:
      const bSpace = Number((await gw.sql('SELECT user_space_id FROM user_spaces WHERE user_id = $1 AND is_default', [b.userID]))[0].user_space_id);
      const res = await b.client.post('/v1/userSpace/downloadPackage', { userSpaceID: bSpace, packageID: aPkg, rootPath: 'x' });
      expect([res.status, res.body.code]).toEqual([404, 'DataNotFound']);
      // delete of a foreign space answers like a missing one (OK, nothing happens)
      expect((await b.client.post('/v1/userSpace/delete', { userSpaceID: aSpace.userSpaceID })).body.code).toBe('OK');
      // an upload by B with A's space as affinity is stored in B's default space
      const up = (await uploadFiles(b, bPkg, [['aff', Buffer.from('b data')]], { affinity: aSpace.userSpaceID })).body.data.uploadeds[0];
      const [blk] = await gw.sql('SELECT user_space_id FROM object_blocks WHERE object_id = $1', [up.objectID]);
      expect(Number(blk.user_space_id)).toBe(bSpace);
      expect((await a.client.get('/v1/userSpace/get', { userSpaceID: aSpace.userSpaceID })).body.data.userSpace).toEqual(aSpace);
    });
  });
});
