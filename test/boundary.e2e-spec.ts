import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { filesUnder } from './support/contract.js';
import { startTestGateway, type Tenant, type TestGateway } from './support/gateway.js';
import { newPackage, uploadFiles } from './support/objects.js';

/**
 * Issue 7, "Tenant boundary" and "Bounded work" of package import/export: tenants' Local roots never
 * overlap (each other, or the gateway's data directory); nothing the API writes lands in a shard area;
 * S3/OBS endpoints pass the gateway's address policy before any connection; createPackage and
 * downloadPackage are bounded and stop when their client goes.
 *
 * No test here sends a packet to a non-loopback address: denied non-loopback addresses are only given
 * to `create` (which stores, never connects) and are refused there; anything that would connect uses
 * loopback, refused by an allow list that excludes it.
 */

const BAD = { code: 'BadArgument', message: expect.any(String), data: null };
const local = (rootDir?: string, extra: Record<string, unknown> = {}) => ({
  name: 'l-' + randomBytes(3).toString('hex'),
  storage: rootDir === undefined ? { type: 'Local' } : { type: 'Local', rootDir },
  credential: { type: 'Local' },
  ...extra,
});
const s3 = (endpoint: string) => ({
  name: 's3-' + randomBytes(3).toString('hex'),
  storage: { type: 'S3', region: 'us-east-1', endpoint, bucket: 'b', forcePathStyle: true },
  credential: { type: 'S3', accessKeyId: 'AK', secretAccessKey: 'SK' },
});
const obs = (endpoint: string) => ({
  name: 'obs-' + randomBytes(3).toString('hex'),
  storage: { type: 'OBS', region: 'r', endpoint, bucket: 'b', projectID: 'p' },
  credential: { type: 'OBS', accessKeyId: 'AK', secretAccessKey: 'SK' },
});

/** Every regular file under `dir` (recursively; none if it does not exist). */
/** Polls `check` until it holds (bounded: ~30 s), for effects that follow an event asynchronously. */
async function eventually(what: string, check: () => Promise<boolean> | boolean, tries = 300): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (await check()) return;
    await sleep(100);
  }
  throw new Error(`never happened: ${what}`);
}

describe('tenant boundary (issue 7)', () => {
  let gw: TestGateway;
  let shared: string;
  let dataDir: string;
  let a: Tenant;
  let b: Tenant;
  const create = (t: Tenant, body: Record<string, unknown>) => t.client.post('/v1/userSpace/create', body);
  const tenantFolder = (t: Tenant) => path.join(dataDir, 'tenants', String(t.userID));
  const defaultSpace = async (t: Tenant) =>
    Number((await gw.sql('SELECT user_space_id FROM user_spaces WHERE user_id = $1 AND is_default', [t.userID]))[0].user_space_id);

  beforeAll(async () => {
    shared = mkdtempSync(path.join(tmpdir(), 'jcs-shared-'));
    dataDir = mkdtempSync(path.join(tmpdir(), 'jcs-boundary-data-'));
    // The operator allows a shared folder and - carelessly - the data directory itself.
    gw = await startTestGateway({ JCS_DATA_DIR: dataDir, JCS_LOCAL_ROOTS: [shared, dataDir].join(path.delimiter), JCS_GC_GRACE_SECONDS: '3600' });
    a = await gw.tenant();
    b = await gw.tenant();
  }, 300_000); // starting a gateway on a loaded 2-core machine can be slow
  afterAll(async () => {
    await gw?.stop();
    for (const d of [shared, dataDir]) if (d) rmSync(d, { recursive: true, force: true });
  }, 300_000);

  describe('Local roots of two tenants never overlap', () => {
    it.each([
      ['equal', 'eq', 'eq'],
      ['the second inside the first', 'outer1', 'outer1/inner'],
      ['the second containing the first', 'outer2/inner', 'outer2'],
      ['the second containing the first, several levels up', 'up/a/b/c', 'up'],
    ])('refuses %s (BadArgument), whichever tenant comes first', async (_l, first, second) => {
      for (const [p, q] of [
        [a, b],
        [b, a],
      ] as const) {
        const tag = `${p.userID}-${first.split('/')[0]}`;
        const one = path.join(shared, tag, first);
        const two = path.join(shared, tag, second);
        mkdirSync(one, { recursive: true });
        mkdirSync(two, { recursive: true });
        expect((await create(p, local(one))).body.code).toBe('OK');
        const res = await create(q, local(two));
        expect([res.status, res.body]).toEqual([400, BAD]);
        // Nor may it probe (write a test file into) that folder.
        const probe = await q.client.post('/v1/userSpace/test', { storage: { type: 'Local', rootDir: two }, credential: { type: 'Local' } });
        expect([probe.status, probe.body]).toEqual([400, BAD]);
        expect(res.body.message).not.toContain(String(p.userID));
      }
    });

    it('lets one tenant overlap its own spaces, and two tenants use sibling folders', async () => {
      const base = path.join(shared, 'siblings');
      mkdirSync(path.join(base, 'a', 'sub'), { recursive: true });
      mkdirSync(path.join(base, 'ab'), { recursive: true });
      expect((await create(a, local(path.join(base, 'a')))).body.code).toBe('OK');
      expect((await create(a, local(path.join(base, 'a', 'sub')))).body.code).toBe('OK');
      expect((await create(a, local(path.join(base, 'a')))).body.code).toBe('OK');
      // "ab" starts with "a" as a string but is another folder.
      expect((await create(b, local(path.join(base, 'ab')))).body.code).toBe('OK');
    });

    it('refuses a root that reaches another tenant’s root through a symlink', async () => {
      const real = path.join(shared, 'real-a');
      mkdirSync(path.join(real, 'deep'), { recursive: true });
      symlinkSync(real, path.join(shared, 'link-to-a'));
      expect((await create(a, local(real))).body.code).toBe('OK');
      for (const p of ['link-to-a', 'link-to-a/deep', 'link-to-a/not-yet/made']) {
        const res = await create(b, local(path.join(shared, p)));
        expect([p, res.status, res.body]).toEqual([p, 400, BAD]);
      }
    });

    it('refuses roots over JCS_DATA_DIR outside the tenant’s own folder, even though JCS_LOCAL_ROOTS lists it', async () => {
      symlinkSync(dataDir, path.join(shared, 'link-to-data'));
      const refused = [
        dataDir, // master.key's folder
        path.join(dataDir, 'tenants'),
        tenantFolder(a), // A's default space
        path.join(tenantFolder(a), 'photos'),
        path.join(shared, 'link-to-data'),
        path.join(shared, 'link-to-data', 'tenants', String(a.userID)),
        shared, // contains A's spaces
      ];
      for (const p of refused) {
        const res = await create(b, local(p));
        expect([p, res.status, res.body]).toEqual([p, 400, BAD]);
      }
      // Inside its own folder, by an absolute path through the listed data directory: fine.
      const own = path.join(tenantFolder(b), 'mine');
      expect((await create(b, local(own))).body.code).toBe('OK');
      expect((await create(b, local('relative-mine'))).body.code).toBe('OK');
      // The default space (a tenant's folder) counts like any other space: B cannot contain it either.
      expect((await create(b, local(path.join(dataDir, 'tenants', String(a.userID), '..')))).status).toBe(400);
    });

    it('lets exactly one of two tenants win when both create the same root at once', async () => {
      for (let round = 0; round < 6; round++) {
        const root = path.join(shared, `race-${round}`);
        mkdirSync(root);
        const [ra, rb] = await Promise.all([create(a, local(root)), create(b, local(root))]);
        const codes = [ra.body.code, rb.body.code].sort();
        expect(codes).toEqual(['BadArgument', 'OK']);
        const rows = await gw.sql(`SELECT DISTINCT user_id FROM user_spaces WHERE storage->>'rootDir' = $1`, [root]);
        expect(rows).toHaveLength(1);
      }
    });
  });

  describe('nothing written through the API lands in a shard area', () => {
    let pkg: number;
    beforeAll(async () => {
      pkg = await newPackage(a);
      await uploadFiles(a, pkg, [
        ['a.txt', Buffer.from('plain file')],
        ['blocks/zz/evil', Buffer.from('looks like a shard')],
      ]);
    });
    const exportTo = (space: number, rootPath: string, packageID = pkg) => a.client.post('/v1/userSpace/downloadPackage', { userSpaceID: space, packageID, rootPath });

    it('refuses a rootPath in the target space’s own shards/ (default workingDir)', async () => {
      const space = await defaultSpace(a);
      const before = filesUnder(path.join(tenantFolder(a), 'shards')).sort();
      for (const rootPath of ['shards', 'shards/', 'shards/blocks', 'shards/tmp/x', './shards']) {
        const res = await exportTo(space, rootPath);
        expect([rootPath, res.status, res.body]).toEqual([rootPath, 400, BAD]);
      }
      expect(filesUnder(path.join(tenantFolder(a), 'shards')).sort()).toEqual(before);
    });

    it('refuses when an object path would land in <workingDir>/shards/, writing nothing at all', async () => {
      const space = (await create(a, local('wd-space', { workingDir: 'jcs', shardStore: { maxSize: 1 << 30 } }))).body.data.userSpace.userSpaceID;
      const inShards = (await a.client.post('/v1/userSpace/downloadPackage', { userSpaceID: space, packageID: pkg, rootPath: 'jcs/shards' })).body;
      expect(inShards).toEqual(BAD);
      // rootPath "jcs" is fine as a folder, but the object "shards/..." would be jcs/shards/...
      const evil = await newPackage(a);
      await uploadFiles(a, evil, [
        ['aaa.txt', Buffer.from('first')],
        ['shards/blocks/ab/x', Buffer.from('into the shard area')],
      ]);
      const res = await exportTo(space, 'jcs', evil);
      expect([res.status, res.body]).toEqual([400, BAD]);
      expect(filesUnder(path.join(tenantFolder(a), 'wd-space'))).toEqual([]);
      // Elsewhere in the same space the same package is written out.
      expect((await exportTo(space, 'out', evil)).body.code).toBe('OK');
      expect(filesUnder(path.join(tenantFolder(a), 'wd-space', 'out'))).toHaveLength(2);
    });

    it('refuses writing into the default space’s shards/ seen through another space rooted at the tenant folder', async () => {
      // rootDir absent: the tenant's folder, where the default space keeps its shards in shards/.
      const home = (await create(a, local(undefined, { workingDir: 'w' }))).body.data.userSpace.userSpaceID;
      for (const rootPath of ['shards', 'shards/blocks/00']) expect([rootPath, (await exportTo(home, rootPath)).body]).toEqual([rootPath, BAD]);
      const evil = await newPackage(a);
      await uploadFiles(a, evil, [['shards/tmp/planted', Buffer.from('x')]]);
      expect((await exportTo(home, '', evil)).body).toEqual(BAD);
      expect(existsSync(path.join(tenantFolder(a), 'shards', 'tmp', 'planted'))).toBe(false);
    });

    it('refuses writing into the shard area of a space rooted inside the target', async () => {
      const inner = (await create(a, local('outer/inner', { shardStore: { maxSize: 1 << 30 } }))).body.data.userSpace.userSpaceID;
      await uploadFiles(a, await newPackage(a), [['x', Buffer.from('stored in inner')]], { affinity: inner });
      const outer = (await create(a, local('outer'))).body.data.userSpace.userSpaceID;
      expect((await exportTo(outer, 'inner/shards')).body).toEqual(BAD);
      expect((await exportTo(outer, 'inner')).body.code).toBe('OK'); // inner/a.txt, inner/blocks/zz/evil: not shards/
    });

    it('createPackage never imports a shard area, its own or another space’s', async () => {
      const home = (await create(a, local(undefined, { workingDir: 'w2' }))).body.data.userSpace.userSpaceID;
      writeFileSync(path.join(tenantFolder(a), 'top.txt'), 'mine');
      expect(filesUnder(path.join(tenantFolder(a), 'shards', 'blocks')).length).toBeGreaterThan(0);
      const bucketID = (await a.client.post('/v1/bucket/create', { name: 'imp-' + randomBytes(3).toString('hex') })).body.data.bucket.bucketID;
      const res = await a.client.post('/v1/userSpace/createPackage', { userSpaceID: home, path: '', bucketID, name: 'whole-home' });
      expect(res.body.code).toBe('OK');
      const objects = (await a.client.get('/v1/object/getPackageObjects', { packageID: res.body.data.package.packageID })).body.data.objects;
      const paths: string[] = objects.map((o: any) => o.path);
      expect(paths).toContain('top.txt');
      expect(paths.filter((p) => p.startsWith('shards/') || p.startsWith('w2/shards/'))).toEqual([]);
      const direct = await a.client.post('/v1/userSpace/createPackage', { userSpaceID: home, path: 'shards/blocks', bucketID, name: 'shards-only' });
      expect([direct.status, direct.body]).toEqual([400, BAD]);
    });
  });

  describe('S3/OBS endpoints (default deny list)', () => {
    // `create` stores and never connects: these addresses are never contacted, by the old code either.
    it.each([
      'http://169.254.169.254/',
      'http://169.254.169.254:80/latest/meta-data/',
      'http://2852039166/', // decimal 169.254.169.254
      'http://0xa9fea9fe/', // hex
      'http://0251.0376.0251.0376/', // octal
      'http://169.254.43518/', // a.b.c form
      'http://[fe80::1]/',
      'http://[fe80::1%25eth0]/',
      'http://[::ffff:169.254.169.254]/', // IPv4-mapped
      'http://[::ffff:a9fe:a9fe]/',
      'http://[::169.254.169.254]/', // IPv4-compatible
      'http://[64:ff9b::a9fe:a9fe]/', // NAT64
      'http://100.100.100.200/',
      'http://[fd00:ec2::254]/',
      'http://0.0.0.0:9000/',
      'http://0/',
      'http://[::]/',
    ])('refuses %s at create for S3 and OBS, without saying what is there', async (endpoint) => {
      for (const body of [s3(endpoint), obs(endpoint)]) {
        const res = await create(a, body);
        expect([endpoint, res.status, res.body]).toEqual([endpoint, 400, BAD]);
        expect(res.body.message).not.toMatch(/169|fe80|100\.100|metadata|ec2/i);
      }
      expect(await gw.sql(`SELECT 1 FROM user_spaces WHERE storage->>'endpoint' = $1`, [endpoint])).toEqual([]);
    });

    it('keeps loopback allowed by default (the tests’ s3rver listens there)', async () => {
      expect((await create(a, s3('http://127.0.0.1:9/'))).body.code).toBe('OK');
      expect((await create(a, s3('http://localhost:9/'))).body.code).toBe('OK');
    });
  });

  describe('package import and export stop when the client goes', () => {
    let a: Tenant;
    beforeAll(async () => {
      a = await gw.tenant(); // a tenant of its own: its default space holds only these trees
    });

    it('a client that disconnects during createPackage of 2,000 files: no package, staging stops and is discarded', async () => {
      const folder = path.join(dataDir, 'tenants', String(a.userID));
      for (let i = 0; i < 2000; i++) {
        const dir = path.join(folder, 'big', `d${i % 20}`);
        if (i < 20) mkdirSync(dir, { recursive: true });
        writeFileSync(path.join(dir, `f${i}`), randomBytes(16 * 1024));
      }
      // A separate target space, so its shard area holds only this import's files.
      const target = (
        await a.client.post('/v1/userSpace/create', { name: 'target', storage: { type: 'Local', rootDir: 'target' }, credential: { type: 'Local' }, shardStore: { maxSize: 2 ** 40 } })
      ).body.data.userSpace.userSpaceID;
      const targetShards = path.join(folder, 'target', 'shards');
      const source = Number((await gw.sql('SELECT user_space_id FROM user_spaces WHERE user_id = $1 AND is_default', [a.userID]))[0].user_space_id);
      const bucketID = (await a.client.post('/v1/bucket/create', { name: 'cut' })).body.data.bucket.bucketID;

      const { url, init } = await a.client.signedRequest({
        method: 'POST',
        path: '/v1/userSpace/createPackage',
        body: JSON.stringify({ userSpaceID: source, path: 'big', bucketID, name: 'never', spaceAffinity: target }),
        headers: { 'content-type': 'application/json' },
      });
      const req = httpRequest(url, { method: 'POST', headers: init.headers as Record<string, string> });
      let answered = false;
      req.on('response', () => (answered = true));
      req.on('error', () => undefined);
      req.end(init.body as string);

      // Cut the connection once the import is under way (its first files are being staged).
      await eventually('the import starts staging', () => filesUnder(targetShards).length > 0);
      req.destroy();
      expect(answered).toBe(false);

      // Staging stops and what was staged is removed: the area empties and stays empty (an import that
      // went on would keep adding files, and finally publish 2,000 blocks).
      await eventually('the staged files are discarded', () => filesUnder(targetShards).length === 0);
      for (let i = 0; i < 10; i++) {
        await sleep(200);
        expect(filesUnder(targetShards)).toEqual([]);
      }
      expect(await gw.sql('SELECT 1 FROM packages WHERE bucket_id = $1', [bucketID])).toEqual([]);
      expect(await gw.sql('SELECT 1 FROM shards WHERE user_space_id = $1', [target])).toEqual([]);
      // The gateway is fine afterwards, and the same import completes when the client waits.
      const done = await a.client.post('/v1/userSpace/createPackage', { userSpaceID: source, path: 'big/d0', bucketID, name: 'small', spaceAffinity: target });
      expect(done.body.code).toBe('OK');
    });

    it('a client that disconnects during downloadPackage of 2,000 objects: writing stops, no partial file is left', async () => {
      const pkg = await newPackage(a);
      const data = new Map<string, Buffer>();
      for (let batch = 0; batch < 20; batch++) {
        const files: Array<[string, Buffer]> = [];
        for (let i = 0; i < 100; i++) {
          const p = `e${batch}/f${i}`;
          data.set(p, randomBytes(32 * 1024));
          files.push([p, data.get(p)!]);
        }
        expect((await uploadFiles(a, pkg, files)).body.code).toBe('OK');
      }
      const space = Number((await gw.sql('SELECT user_space_id FROM user_spaces WHERE user_id = $1 AND is_default', [a.userID]))[0].user_space_id);
      const out = path.join(dataDir, 'tenants', String(a.userID), 'exported');
      const { url, init } = await a.client.signedRequest({
        method: 'POST',
        path: '/v1/userSpace/downloadPackage',
        body: JSON.stringify({ userSpaceID: space, packageID: pkg, rootPath: 'exported' }),
        headers: { 'content-type': 'application/json' },
      });
      const req = httpRequest(url, { method: 'POST', headers: init.headers as Record<string, string> });
      req.on('error', () => undefined);
      req.end(init.body as string);
      await eventually('the export starts writing', () => filesUnder(out).length > 0);
      req.destroy();

      // Writing stops: the count settles (unchanged over 2 s), well short of the whole package.
      let last = -1;
      let steady = 0;
      await eventually('the export stops', () => {
        const n = filesUnder(out).length;
        steady = n === last ? steady + 1 : 0;
        last = n;
        return steady >= 20;
      });
      const written = filesUnder(out).map((f) => path.join(out, f));
      expect(written.length).toBeLessThan(2000);
      // Files already written stay, each complete; a partial (temp) file never does.
      for (const f of written) {
        const rel = path.relative(out, f).split(path.sep).join('/');
        expect([rel, data.has(rel)]).toEqual([rel, true]);
        expect(readFileSync(f).equals(data.get(rel)!)).toBe(true);
      }
    });
  });
});

describe('endpoint allow list, checked before any connection (issue 7)', () => {
  let gw: TestGateway;
  let a: Tenant;
  let listener: Server;
  let port: number;
  let connections = 0;

  beforeAll(async () => {
    // A loopback listener that only counts: any connection to it means a check came too late.
    listener = createServer((sock) => {
      connections++;
      sock.destroy();
    });
    await new Promise<void>((r) => listener.listen(0, '127.0.0.1', () => r()));
    port = (listener.address() as AddressInfo).port;
    gw = await startTestGateway({ JCS_ENDPOINT_ALLOW: '10.0.0.0/8', JCS_BACKEND_TIMEOUT_MS: '3000', JCS_MAX_FILES_PER_IMPORT: '20' });
    a = await gw.tenant();
  }, 300_000);
  afterAll(async () => {
    await gw?.stop();
    listener?.close();
  }, 300_000);

  it('refuses at create and at test an endpoint outside the allow list, by literal address or by name', async () => {
    for (const endpoint of [`http://127.0.0.1:${port}`, `http://localhost:${port}`, `http://[::ffff:127.0.0.1]:${port}`]) {
      for (const body of [s3(endpoint), obs(endpoint)]) {
        const created = await a.client.post('/v1/userSpace/create', body);
        expect([endpoint, created.status, created.body]).toEqual([endpoint, 400, BAD]);
        const tested = await a.client.post('/v1/userSpace/test', { storage: body.storage, credential: body.credential });
        expect([endpoint, tested.status, tested.body]).toEqual([endpoint, 400, BAD]);
      }
    }
    expect(connections).toBe(0);
  });

  it('refuses at connect time a stored space whose endpoint the policy no longer permits (no packet sent)', async () => {
    // (OBS only by literal address: with a host name its SDK asks for `<bucket>.<host>`, a DNS query.)
    for (const [kind, host] of [
      ['S3', 'localhost'],
      ['S3', '127.0.0.1'],
      ['OBS', '127.0.0.1'],
    ] as const) {
      // Stored while permitted (create never connects); the endpoint then changes behind the API,
      // as when DNS re-points a name or the operator narrows the policy.
      const body = kind === 'S3' ? s3('http://10.255.255.1:9') : obs('http://10.255.255.1:9');
      const id = (await a.client.post('/v1/userSpace/create', { ...body, shardStore: { maxSize: 1 << 30 } })).body.data.userSpace.userSpaceID;
      await gw.sql(`UPDATE user_spaces SET storage = jsonb_set(storage, '{endpoint}', to_jsonb($2::text)) WHERE user_space_id = $1`, [
        id,
        `http://${host}:${port}`,
      ]);
      const up = await uploadFiles(a, await newPackage(a), [['f', Buffer.from('data')]], { affinity: id });
      expect([kind, host, up.body.code]).toEqual([kind, host, 'OperationFailed']);
      expect(up.status).toBeGreaterThanOrEqual(500);
      // And an update does not keep it either.
      const renamed = await a.client.post('/v1/userSpace/update', { userSpaceID: id, name: 'renamed' });
      expect([kind, host, renamed.status, renamed.body]).toEqual([kind, host, 400, BAD]);
    }
    expect(connections).toBe(0);
  });

  it('bounds the files of one import (JCS_MAX_FILES_PER_IMPORT) and commits nothing beyond it', async () => {
    const folder = path.join(gw.dataDir, 'tenants', String(a.userID));
    for (let i = 0; i < 21; i++) {
      mkdirSync(path.join(folder, 'over', 'd'), { recursive: true });
      writeFileSync(path.join(folder, 'over', 'd', `f${i}`), `file ${i}`);
      if (i < 20) {
        mkdirSync(path.join(folder, 'at'), { recursive: true });
        writeFileSync(path.join(folder, 'at', `f${i}`), `file ${i}`);
      }
    }
    const space = Number((await gw.sql('SELECT user_space_id FROM user_spaces WHERE user_id = $1 AND is_default', [a.userID]))[0].user_space_id);
    const bucketID = (await a.client.post('/v1/bucket/create', { name: 'bounded' })).body.data.bucket.bucketID;
    const over = await a.client.post('/v1/userSpace/createPackage', { userSpaceID: space, path: 'over', bucketID, name: 'over' });
    expect([over.status, over.body]).toEqual([400, BAD]);
    expect(over.body.message).toContain('20');
    const at = await a.client.post('/v1/userSpace/createPackage', { userSpaceID: space, path: 'at', bucketID, name: 'at' });
    expect(at.body.code).toBe('OK');
    expect((await a.client.get('/v1/package/listBucketPackages', { bucketID })).body.data.packages.map((p: any) => p.name)).toEqual(['at']);
  });
});
