import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startGatewayProcess, type GatewayProcess } from './support/gateway-process.js';
import { multipartBody, pseudoRandomStream } from './support/multipart.js';
import { hashStream } from './support/objects.js';

const MiB = 1024 * 1024;

/**
 * Memory per request is bounded by a constant, not by the object's size: a 512 MiB upload (and its
 * download) must keep the gateway's resident memory growth under 100 MiB. Measured on the real
 * process, sampled while the bytes flow; no timing is asserted.
 */
describe('memory stays bounded while streaming', () => {
  let gw: GatewayProcess;
  let packageID: number;

  beforeAll(async () => {
    gw = await startGatewayProcess();
    const b = (await gw.admin.post('/v1/bucket/create', { name: 'mem' })).body.data.bucket;
    packageID = (await gw.admin.post('/v1/package/create', { bucketID: b.bucketID, name: 'mem' })).body.data.package.packageID;
    // Warm up code paths (JIT, pools, buffers) so the baseline is the steady state.
    const { body, contentType } = multipartBody([
      { name: 'info', value: JSON.stringify({ packageID }) },
      { name: 'files', filename: 'warm', data: () => pseudoRandomStream(8 * MiB, 3) },
    ]);
    await gw.admin.json({ method: 'POST', path: '/v1/object/upload', body, headers: { 'content-type': contentType } });
  });
  afterAll(async () => gw?.stop());

  function sampleRss() {
    let peak = 0;
    const timer = setInterval(() => (peak = Math.max(peak, gw.rss())), 20);
    return { stop: () => (clearInterval(timer), Math.max(peak, gw.rss())) };
  }

  it('a 512 MiB upload and its download grow RSS by less than 100 MiB', async () => {
    const size = 512 * MiB;
    const baseline = gw.rss();
    const sampler = sampleRss();
    const { body, contentType } = multipartBody([
      { name: 'info', value: JSON.stringify({ packageID }) },
      { name: 'files', filename: 'big', data: () => pseudoRandomStream(size, 11) },
    ]);
    const up = await gw.admin.json({ method: 'POST', path: '/v1/object/upload', body, headers: { 'content-type': contentType } });
    expect(up.body.data.uploadeds[0].size).toBe(String(size));

    const res = await gw.admin.raw({ path: '/v1/object/download', query: { objectID: up.body.data.uploadeds[0].objectID } });
    const got = await hashStream(res.body);
    const peak = sampler.stop();
    expect(got.bytes).toBe(size);
    expect('Full' + got.hex.toUpperCase()).toBe(up.body.data.uploadeds[0].fileHash);
    expect((peak - baseline) / MiB).toBeLessThan(100);
  });
});
