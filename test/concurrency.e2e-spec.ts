import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { startTestGateway, type Tenant, type TestGateway } from './support/gateway.js';
import { download, newPackage, uploadFiles } from './support/objects.js';

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
});
