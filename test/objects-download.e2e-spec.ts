import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { truncateSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import { startTestGateway, type Tenant, type TestGateway } from './support/gateway.js';
import { download, fullHashOf, newPackage, uploadFiles } from './support/objects.js';

describe('objects: ranged and failing downloads', () => {
  let gw: TestGateway;
  let a: Tenant;
  let pkg: number;
  const data = randomBytes(10_000);
  let id: number;

  beforeAll(async () => {
    gw = await startTestGateway();
    a = await gw.tenant();
    pkg = await newPackage(a);
    id = (await uploadFiles(a, pkg, [['r/data.bin', data]])).body.data.uploadeds[0].objectID;
  });
  afterAll(async () => gw?.stop());

  it.each([
    ['first byte', { offset: 0, length: 1 }, 0, 1],
    ['last byte', { offset: 9999, length: 1 }, 9999, 10000],
    ['a middle span', { offset: 1234, length: 4321 }, 1234, 5555],
    ['offset to the end', { offset: 9000 }, 9000, 10000],
    ['the empty tail', { offset: 10000 }, 10000, 10000],
    ['zero length', { offset: 5, length: 0 }, 5, 5],
  ])('offset/length: %s', async (_l, q, from, to) => {
    const got = await download(a, { objectID: id, ...q });
    expect(got.status).toBe(200);
    expect(got.bytes.equals(data.subarray(from, to))).toBe(true);
    expect(got.headers.get('content-length')).toBe(String(to - from));
  });

  it.each([
    ['offset past the end', { offset: 10001 }],
    ['length past the end', { offset: 9999, length: 2 }],
    ['negative offset', { offset: -1 }],
    ['non-numeric length', { length: 'abc' }],
  ])('offset/length: %s is BadArgument', async (_l, q) => {
    const got = await download(a, { objectID: id, ...(q as any) });
    expect(got.status).toBe(400);
    expect(got.json()).toEqual({ code: 'BadArgument', message: expect.any(String), data: null });
  });

  it.each([
    ['bytes=0-0', 0, 0],
    ['bytes=9999-', 9999, 9999],
    ['bytes=100-199', 100, 199],
    ['bytes=-10', 9990, 9999],
    ['bytes=9000-20000', 9000, 9999],
  ])('Range %s answers 206 with Content-Range', async (range, start, end) => {
    const got = await download(a, { objectID: id }, { range });
    expect(got.status).toBe(206);
    expect(got.headers.get('content-range')).toBe(`bytes ${start}-${end}/10000`);
    expect(got.bytes.equals(data.subarray(start, end + 1))).toBe(true);
  });

  it('Range past the end answers 416 with Content-Range */size', async () => {
    const got = await download(a, { objectID: id }, { range: 'bytes=10000-' });
    expect(got.status).toBe(416);
    expect(got.headers.get('content-range')).toBe('bytes */10000');
    expect(got.json().code).toBe('BadArgument');
  });

  it('downloadByPath reads the same bytes; missing path is DataNotFound', async () => {
    const got = await download(a, { packageID: pkg, path: 'r/data.bin', offset: 10, length: 10 }, {}, 'downloadByPath');
    expect(got.bytes.equals(data.subarray(10, 20))).toBe(true);
    const missing = await download(a, { packageID: pkg, path: 'r/nope' }, {}, 'downloadByPath');
    expect(missing.status).toBe(404);
    expect(missing.json().code).toBe('DataNotFound');
  });

  it('DataNotFound for a missing object id', async () => {
    const got = await download(a, { objectID: 99999999 });
    expect(got.status).toBe(404);
    expect(got.json().code).toBe('DataNotFound');
  });

  const shardPath = (bytes: Buffer) => {
    const hash = fullHashOf(bytes);
    return path.join(gw.dataDir, 'tenants', String(a.userID), 'shards/blocks', hash.slice(4, 6), hash);
  };

  it('a missing shard is OperationFailed before the first byte (JSON envelope, no stack)', async () => {
    const lost = randomBytes(500);
    const obj = (await uploadFiles(a, pkg, [['broken/missing', lost]])).body.data.uploadeds[0];
    unlinkSync(shardPath(lost));
    const got = await download(a, { objectID: obj.objectID });
    expect(got.status).toBe(500);
    expect(got.json()).toEqual({ code: 'OperationFailed', message: expect.stringContaining(String(obj.objectID)), data: null });
    expect(got.bytes.toString()).not.toMatch(/\bat \w/);
  });

  it('a shard of the wrong size is OperationFailed before the first byte', async () => {
    const damaged = randomBytes(500);
    const obj = (await uploadFiles(a, pkg, [['broken/short', damaged]])).body.data.uploadeds[0];
    truncateSync(shardPath(damaged), 100);
    const got = await download(a, { objectID: obj.objectID });
    expect(got.status).toBe(500);
    expect(got.json().code).toBe('OperationFailed');
  });
});

