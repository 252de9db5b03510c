import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestGateway, type Tenant, type TestGateway } from './support/gateway.js';

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

describe('buckets and packages (spec §3, §4)', () => {
  let gw: TestGateway;
  let a: Tenant;

  beforeAll(async () => {
    gw = await startTestGateway();
    a = await gw.tenant();
  });
  afterAll(async () => gw?.stop());

  describe('buckets', () => {
    it('creates a bucket with the exact shape', async () => {
      const res = await a.client.post('/v1/bucket/create', { userID: a.userID, name: 'photos' });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({
        code: 'OK',
        message: '',
        data: { bucket: { bucketID: expect.any(Number), name: 'photos', createTime: expect.stringMatching(RFC3339) } },
      });
      expect(Object.keys(res.body.data.bucket).sort()).toEqual(['bucketID', 'createTime', 'name']);
    });

    it('accepts a create without userID', async () => {
      const res = await a.client.post('/v1/bucket/create', { name: 'no-user-id' });
      expect(res.body.code).toBe('OK');
    });

    it('answers DataExists 409 for the same name twice', async () => {
      await a.client.post('/v1/bucket/create', { name: 'dup' });
      const res = await a.client.post('/v1/bucket/create', { name: 'dup' });
      expect(res.status).toBe(409);
      expect(res.body).toEqual({ code: 'DataExists', message: expect.stringContaining('dup'), data: null });
    });

    it('gets a bucket by name, and DataNotFound for a missing one', async () => {
      const created = (await a.client.post('/v1/bucket/create', { name: 'by name ü' })).body.data.bucket;
      const got = await a.client.get('/v1/bucket/getByName', { name: 'by name ü' });
      expect(got.body).toEqual({ code: 'OK', message: '', data: { bucket: created } });
      const missing = await a.client.get('/v1/bucket/getByName', { name: 'nope' });
      expect(missing.status).toBe(404);
      expect(missing.body.code).toBe('DataNotFound');
    });

    it('lists only the caller’s buckets, in creation order', async () => {
      const t = await gw.tenant();
      await t.client.post('/v1/bucket/create', { name: 'one' });
      await t.client.post('/v1/bucket/create', { name: 'two' });
      const res = await t.client.get('/v1/bucket/listAll');
      expect(res.body.data.buckets.map((b: any) => b.name)).toEqual(['one', 'two']);
    });

    it('deletes a bucket with its packages, then DataNotFound', async () => {
      const b = (await a.client.post('/v1/bucket/create', { name: 'to-delete' })).body.data.bucket;
      const p = (await a.client.post('/v1/package/create', { bucketID: b.bucketID, name: 'p' })).body.data.package;
      const del = await a.client.post('/v1/bucket/delete', { bucketID: b.bucketID });
      expect(del.body).toEqual({ code: 'OK', message: '', data: null });
      expect((await a.client.post('/v1/bucket/delete', { bucketID: b.bucketID })).body.code).toBe('DataNotFound');
      expect((await a.client.post('/v1/package/delete', { packageID: p.packageID })).body.code).toBe('DataNotFound');
      expect(await gw.sql('SELECT 1 FROM packages WHERE package_id = $1', [p.packageID])).toHaveLength(0);
    });

    it.each([
      ['empty name', { name: '' }],
      ['slash', { name: 'a/b' }],
      ['dot', { name: '.' }],
      ['dot-dot', { name: '..' }],
      ['control char', { name: 'a\nb' }],
      ['too long', { name: 'x'.repeat(256) }],
      ['256 bytes of UTF-8', { name: 'é'.repeat(128) }],
      ['number name', { name: 42 }],
      ['missing name', {}],
      ['userID as string', { userID: '1', name: 'x' }],
    ])('refuses %s with BadArgument 400', async (_label, body) => {
      const res = await a.client.post('/v1/bucket/create', body);
      expect(res.status).toBe(400);
      expect(res.body).toEqual({ code: 'BadArgument', message: expect.any(String), data: null });
    });

    it('accepts a 255-byte name', async () => {
      const res = await a.client.post('/v1/bucket/create', { name: 'é'.repeat(127) + 'x' });
      expect(res.body.code).toBe('OK');
    });

    it('answers BadArgument for invalid JSON, a JSON array and a string bucketID', async () => {
      const bad = await a.client.json({ method: 'POST', path: '/v1/bucket/create', body: '{"name":', headers: { 'content-type': 'application/json' } });
      expect(bad.status).toBe(400);
      expect(bad.body).toEqual({ code: 'BadArgument', message: 'request body is not valid JSON', data: null });
      const arr = await a.client.post('/v1/bucket/create', [1, 2]);
      expect(arr.status).toBe(400);
      expect(arr.body.code).toBe('BadArgument');
      const str = await a.client.post('/v1/bucket/delete', { bucketID: '1' });
      expect(str.status).toBe(400);
      expect(str.body.code).toBe('BadArgument');
    });

    it('refuses a body userID that is not the caller’s with Unauthorized 403', async () => {
      const res = await a.client.post('/v1/bucket/create', { userID: a.userID + 1000, name: 'theirs' });
      expect(res.status).toBe(403);
      expect(res.body.code).toBe('Unauthorized');
      expect((await a.client.get('/v1/bucket/getByName', { name: 'theirs' })).body.code).toBe('DataNotFound');
    });

    it('ignores unknown fields', async () => {
      const res = await a.client.post('/v1/bucket/create', { name: 'extra-fields', colour: 'blue' });
      expect(res.body.code).toBe('OK');
    });

    it('answers an unknown route with DataNotFound in the envelope', async () => {
      const res = await a.client.get('/v1/bucket/nope');
      expect(res.status).toBe(404);
      expect(res.body.code).toBe('DataNotFound');
    });
  });

  describe('packages', () => {
    let bucketID: number;
    beforeAll(async () => {
      bucketID = (await a.client.post('/v1/bucket/create', { name: 'pkg-bucket' })).body.data.bucket.bucketID;
    });

    it('creates a package with the exact shape, DataExists on duplicates', async () => {
      const res = await a.client.post('/v1/package/create', { bucketID, name: 'first' });
      expect(res.body).toEqual({
        code: 'OK',
        message: '',
        data: {
          package: { packageID: expect.any(Number), name: 'first', bucketID, createTime: expect.stringMatching(RFC3339), redundancy: null },
        },
      });
      const dup = await a.client.post('/v1/package/create', { bucketID, name: 'first' });
      expect(dup.status).toBe(409);
      expect(dup.body.code).toBe('DataExists');
    });

    it('allows the same package name in another bucket', async () => {
      const other = (await a.client.post('/v1/bucket/create', { name: 'pkg-bucket-2' })).body.data.bucket.bucketID;
      expect((await a.client.post('/v1/package/create', { bucketID: other, name: 'first' })).body.code).toBe('OK');
    });

    it('gets by full name and lists a bucket’s packages', async () => {
      const p = (await a.client.post('/v1/package/create', { bucketID, name: 'second' })).body.data.package;
      const got = await a.client.get('/v1/package/getByFullName', { bucketName: 'pkg-bucket', packageName: 'second' });
      expect(got.body.data).toEqual({ package: p });
      const list = await a.client.get('/v1/package/listBucketPackages', { bucketID });
      expect(list.body.data.packages.map((x: any) => x.name)).toEqual(['first', 'second']);
      const missing = await a.client.get('/v1/package/getByFullName', { bucketName: 'pkg-bucket', packageName: 'nope' });
      expect(missing.status).toBe(404);
      expect(missing.body.code).toBe('DataNotFound');
    });

    it('DataNotFound for a missing bucket on create and list', async () => {
      expect((await a.client.post('/v1/package/create', { bucketID: 999999, name: 'x' })).body.code).toBe('DataNotFound');
      expect((await a.client.get('/v1/package/listBucketPackages', { bucketID: 999999 })).body.code).toBe('DataNotFound');
    });

    it('deletes a package, then DataNotFound', async () => {
      const p = (await a.client.post('/v1/package/create', { bucketID, name: 'gone' })).body.data.package;
      expect((await a.client.post('/v1/package/delete', { packageID: p.packageID })).body).toEqual({ code: 'OK', message: '', data: null });
      expect((await a.client.post('/v1/package/delete', { packageID: p.packageID })).status).toBe(404);
    });

    it.each([
      ['bucketID as string', { bucketID: 'x', name: 'n' }],
      ['bucketID fractional', { bucketID: 1.5, name: 'n' }],
      ['bucketID negative', { bucketID: -1, name: 'n' }],
      ['missing name', { bucketID: 1 }],
      ['name with slash', { bucketID: 1, name: 'a/b' }],
    ])('refuses %s with BadArgument', async (_l, body) => {
      const res = await a.client.post('/v1/package/create', body);
      expect(res.status).toBe(400);
      expect(res.body.code).toBe('BadArgument');
    });

    it('refuses a non-numeric bucketID in the query with BadArgument', async () => {
      const res = await a.client.get('/v1/package/listBucketPackages', { bucketID: 'abc' });
      expect(res.status).toBe(400);
      expect(res.body.code).toBe('BadArgument');
    });
  });
});
