import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestGateway, type Tenant, type TestGateway } from './support/gateway.js';

/**
 * Tenant B calling every route with tenant A's IDs must answer exactly as for an ID that does not
 * exist (no existence leak), and must leave A's data untouched.
 */
describe('tenant isolation: buckets and packages', () => {
  let gw: TestGateway;
  let a: Tenant;
  let b: Tenant;
  let bucketA: any;
  let packageA: any;
  const MISSING = 987654321;

  beforeAll(async () => {
    gw = await startTestGateway();
    a = await gw.tenant('alice');
    b = await gw.tenant('bob');
    bucketA = (await a.client.post('/v1/bucket/create', { name: 'shared-name' })).body.data.bucket;
    packageA = (await a.client.post('/v1/package/create', { bucketID: bucketA.bucketID, name: 'pkg' })).body.data.package;
  });
  afterAll(async () => gw?.stop());

  /** Calls a route with A's id and with a missing id; both answers must match once ids are masked. */
  async function expectSameAsMissing(call: (id: number) => Promise<{ status: number; body: any }>, foreignId: number) {
    const foreign = await call(foreignId);
    const missing = await call(MISSING);
    expect(foreign.status).toBe(404);
    expect(foreign.body.code).toBe('DataNotFound');
    const mask = (r: { status: number; body: any }, id: number) => ({
      status: r.status,
      body: { ...r.body, message: String(r.body.message).replaceAll(String(id), 'ID') },
    });
    expect(mask(foreign, foreignId)).toEqual(mask(missing, MISSING));
  }

  it('bucket/getByName and listAll do not see A’s bucket', async () => {
    const res = await b.client.get('/v1/bucket/getByName', { name: 'shared-name' });
    expect(res.status).toBe(404);
    expect(res.body.code).toBe('DataNotFound');
    expect((await b.client.get('/v1/bucket/listAll')).body.data.buckets).toEqual([]);
  });

  it('B may create a bucket with the same name as A’s', async () => {
    expect((await b.client.post('/v1/bucket/create', { name: 'shared-name' })).body.code).toBe('OK');
  });

  it('bucket/delete with A’s bucketID', async () => {
    await expectSameAsMissing((id) => b.client.post('/v1/bucket/delete', { bucketID: id }), bucketA.bucketID);
  });

  it('package/create in A’s bucket', async () => {
    await expectSameAsMissing((id) => b.client.post('/v1/package/create', { bucketID: id, name: 'intruder' }), bucketA.bucketID);
  });

  it('package/listBucketPackages of A’s bucket', async () => {
    await expectSameAsMissing((id) => b.client.get('/v1/package/listBucketPackages', { bucketID: id }), bucketA.bucketID);
  });

  it('package/getByFullName with A’s names', async () => {
    const res = await b.client.get('/v1/package/getByFullName', { bucketName: 'shared-name', packageName: 'pkg' });
    expect(res.status).toBe(404);
    expect(res.body.code).toBe('DataNotFound');
  });

  it('package/delete with A’s packageID', async () => {
    await expectSameAsMissing((id) => b.client.post('/v1/package/delete', { packageID: id }), packageA.packageID);
  });

  it('package/setRedundancy and redundancyStatus with A’s packageID', async () => {
    await expectSameAsMissing((id) => b.client.post('/v1/package/setRedundancy', { packageID: id, redundancy: { type: 'rep', repCount: 2 } }), packageA.packageID);
    await expectSameAsMissing((id) => b.client.get('/v1/package/redundancyStatus', { packageID: id }), packageA.packageID);
  });

  it('A’s bucket and package are unchanged afterwards', async () => {
    expect((await a.client.get('/v1/bucket/listAll')).body.data.buckets).toEqual([bucketA]);
    expect((await a.client.get('/v1/package/listBucketPackages', { bucketID: bucketA.bucketID })).body.data.packages).toEqual([packageA]);
  });
});
