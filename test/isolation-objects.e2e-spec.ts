import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { startTestGateway, type Tenant, type TestGateway } from './support/gateway.js';
import { download, fullHashOf, newPackage, uploadFiles } from './support/objects.js';
import { uploadPart } from './support/objects-extra.js';

/**
 * Tenant B using tenant A's object and package IDs on every object route must be answered exactly as
 * for IDs that do not exist (DataNotFound, or the route's "skipped" result), and must leave A's
 * objects byte-identical.
 */
describe('tenant isolation: objects', () => {
  let gw: TestGateway;
  let a: Tenant;
  let b: Tenant;
  let pkgA: number;
  let pkgB: number;
  let objB: any;
  let mpuA: any;
  const filesA = new Map<string, Buffer>();
  let objectsA: any[];
  let partsA: unknown[];
  const MISSING = 987654321;

  beforeAll(async () => {
    gw = await startTestGateway();
    a = await gw.tenant('alice');
    b = await gw.tenant('bob');
    pkgA = await newPackage(a);
    pkgB = await newPackage(b);
    for (const p of ['doc/one', 'doc/two', 'three']) filesA.set(p, randomBytes(4096));
    expect((await uploadFiles(a, pkgA, [...filesA])).body.code).toBe('OK');
    mpuA = (await a.client.post('/v1/object/newMultipartUpload', { packageID: pkgA, path: 'doc/open-upload' })).body.data.object;
    expect((await uploadPart(a, mpuA.objectID, 0, randomBytes(1000))).body.code).toBe('OK');
    objB = (await uploadFiles(b, pkgB, [['mine', Buffer.from('bob')]])).body.data.uploadeds[0];
    objectsA = (await a.client.get('/v1/object/getPackageObjects', { packageID: pkgA })).body.data.objects;
    partsA = await gw.sql('SELECT * FROM multipart_parts ORDER BY object_id, part_index');
  });
  afterAll(async () => gw?.stop());

  const idOf = (path: string) => objectsA.find((o) => o.path === path)!.objectID as number;
  type Answer = { status: number; body: any };
  const mask = (r: Answer, id: number): Answer => ({
    status: r.status,
    body: { ...r.body, message: String(r.body.message).replace(new RegExp(`\\b${id}\\b`, 'g'), 'ID') },
  });

  /** The call with A's id and with a missing id answer the same once the ids are masked. */
  async function expectSameAsMissing(call: (id: number) => Promise<Answer>, foreignId: number, expected: { status: number; code: string; data?: unknown }) {
    const foreign = await call(foreignId);
    const missing = await call(MISSING);
    expect({ status: foreign.status, code: foreign.body.code }).toEqual({ status: expected.status, code: expected.code });
    if ('data' in expected) expect(foreign.body.data).toEqual(expected.data);
    expect(mask(foreign, foreignId)).toEqual(mask(missing, MISSING));
  }
  const NOT_FOUND = { status: 404, code: 'DataNotFound', data: null };
  const asAnswer = async (r: ReturnType<typeof download>) => {
    const d = await r;
    return { status: d.status, body: d.json() };
  };

  it('upload into A’s package', async () => {
    await expectSameAsMissing((id) => uploadFiles(b, id, [['doc/one', Buffer.from('overwrite attempt')]]), pkgA, NOT_FOUND);
  });

  it('download and downloadByPath of A’s objects', async () => {
    await expectSameAsMissing((id) => asAnswer(download(b, { objectID: id })), idOf('doc/one'), NOT_FOUND);
    await expectSameAsMissing((id) => b.client.get('/v1/object/blocks', { objectID: id }), idOf('doc/one'), NOT_FOUND);
    await expectSameAsMissing((id) => asAnswer(download(b, { objectID: id, offset: 1, length: 2 })), idOf('three'), NOT_FOUND);
    await expectSameAsMissing((id) => asAnswer(download(b, { objectID: id }, { range: 'bytes=0-9' })), idOf('three'), NOT_FOUND);
    await expectSameAsMissing((id) => asAnswer(download(b, { packageID: id, path: 'doc/one' }, {}, 'downloadByPath')), pkgA, NOT_FOUND);
    // B's own package, A's path: simply not there.
    const own = await download(b, { packageID: pkgB, path: 'doc/one' }, {}, 'downloadByPath');
    expect([own.status, own.json().code]).toEqual([404, 'DataNotFound']);
  });

  it('listByPath and getPackageObjects of A’s package', async () => {
    await expectSameAsMissing((id) => b.client.get('/v1/object/listByPath', { packageID: id, path: 'doc/one' }), pkgA, NOT_FOUND);
    await expectSameAsMissing((id) => b.client.get('/v1/object/listByPath', { packageID: id, path: '', isPrefix: true, noRecursive: true }), pkgA, NOT_FOUND);
    await expectSameAsMissing((id) => b.client.get('/v1/object/getPackageObjects', { packageID: id }), pkgA, NOT_FOUND);
    const own = await b.client.get('/v1/object/listByPath', { packageID: pkgB, path: '', isPrefix: true });
    expect(own.body.data.objects).toEqual([objB]);
  });

  it('move A’s object, or B’s object into A’s package: skipped', async () => {
    const skipped = { status: 200, code: 'OK', data: { successes: [] } };
    await expectSameAsMissing((id) => b.client.post('/v1/object/move', { movings: [{ objectID: id, packageID: pkgB, path: 'taken' }] }), idOf('doc/one'), skipped);
    await expectSameAsMissing((id) => b.client.post('/v1/object/move', { movings: [{ objectID: id, packageID: pkgA, path: 'doc/renamed' }] }), idOf('doc/two'), skipped);
    await expectSameAsMissing((id) => b.client.post('/v1/object/move', { movings: [{ objectID: objB.objectID, packageID: id, path: 'planted' }] }), pkgA, skipped);
    await expectSameAsMissing((id) => b.client.post('/v1/object/move', { movings: [{ objectID: id, packageID: pkgB, path: 'taken' }] }), mpuA.objectID, skipped);
  });

  it('delete A’s objects: OK, and they survive', async () => {
    const ok = { status: 200, code: 'OK', data: null };
    for (const o of objectsA) await expectSameAsMissing((id) => b.client.post('/v1/object/delete', { objectIDs: [id] }), o.objectID, ok);
    const all = await b.client.post('/v1/object/delete', { objectIDs: objectsA.map((o) => o.objectID) });
    expect(all.body).toEqual({ code: 'OK', message: '', data: null });
  });

  it('clone from A’s object or into A’s package: null', async () => {
    const skipped = { status: 200, code: 'OK', data: { objects: [null] } };
    await expectSameAsMissing((id) => b.client.post('/v1/object/clone', { clonings: [{ objectID: id, newPath: 'copy', newPackageID: pkgB }] }), idOf('doc/one'), skipped);
    await expectSameAsMissing((id) => b.client.post('/v1/object/clone', { clonings: [{ objectID: objB.objectID, newPath: 'planted', newPackageID: id }] }), pkgA, skipped);
    await expectSameAsMissing((id) => b.client.post('/v1/object/clone', { clonings: [{ objectID: id, newPath: 'copy', newPackageID: id }] }), idOf('three'), skipped);
    expect((await b.client.get('/v1/object/getPackageObjects', { packageID: pkgB })).body.data.objects).toEqual([objB]);
  });

  it('multipart routes on A’s package and A’s open upload', async () => {
    await expectSameAsMissing((id) => b.client.post('/v1/object/newMultipartUpload', { packageID: id, path: 'doc/one' }), pkgA, NOT_FOUND);
    await expectSameAsMissing((id) => b.client.post('/v1/object/newMultipartUpload', { packageID: id, path: 'fresh' }), pkgA, NOT_FOUND);
    await expectSameAsMissing((id) => uploadPart(b, id, 0, randomBytes(50)), mpuA.objectID, NOT_FOUND);
    await expectSameAsMissing((id) => uploadPart(b, id, 1, randomBytes(50)), mpuA.objectID, NOT_FOUND);
    await expectSameAsMissing((id) => b.client.post('/v1/object/completeMultipartUpload', { objectID: id, indexes: [0] }), mpuA.objectID, NOT_FOUND);
    // A's normal object: the multipart routes must not reveal that it exists and is not an upload.
    await expectSameAsMissing((id) => uploadPart(b, id, 0, randomBytes(50)), idOf('three'), NOT_FOUND);
    await expectSameAsMissing((id) => b.client.post('/v1/object/completeMultipartUpload', { objectID: id, indexes: [0] }), idOf('three'), NOT_FOUND);
  });

  it('A’s objects, parts and upload are exactly as they were', async () => {
    expect((await a.client.get('/v1/object/getPackageObjects', { packageID: pkgA })).body.data.objects).toEqual(objectsA);
    expect(await gw.sql('SELECT * FROM multipart_parts ORDER BY object_id, part_index')).toEqual(partsA);
    for (const [p, data] of filesA) {
      const got = await download(a, { objectID: idOf(p) });
      expect([got.status, got.bytes.equals(data)]).toEqual([200, true]);
    }
    // A can still finish the upload B poked at.
    const part = randomBytes(10);
    expect((await uploadPart(a, mpuA.objectID, 1, part)).body.code).toBe('OK');
    const done = await a.client.post('/v1/object/completeMultipartUpload', { objectID: mpuA.objectID, indexes: [1] });
    expect(done.body.data.object).toEqual(expect.objectContaining({ size: '10', fileHash: fullHashOf(part) }));
    expect((await download(a, { objectID: mpuA.objectID })).bytes.equals(part)).toBe(true);
  });
});
