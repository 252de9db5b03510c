import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { startTestGateway, type Tenant, type TestGateway } from './support/gateway.js';
import { multipartBody } from './support/multipart.js';
import { download, newPackage, uploadFiles } from './support/objects.js';
import { destroyRawConnections, rawConnect, requestHead } from './support/raw-connection.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `count` chunks of `size` random bytes, one every `everyMs`. */
function tricklingStream(count: number, size: number, everyMs: number): { stream: () => Readable; bytes: Buffer } {
  const chunks = Array.from({ length: count }, () => randomBytes(size));
  async function* gen() {
    for (const c of chunks) {
      await sleep(everyMs);
      yield c;
    }
  }
  return { stream: () => Readable.from(gen(), { objectMode: false }), bytes: Buffer.concat(chunks) };
}

/**
 * Server timeouts and caps, shortened by configuration so that the test is quick: no limit may cut a
 * body that keeps flowing; stalled bodies, slow headers and idle keep-alive connections are cut;
 * oversized headers and connections beyond the cap are refused. Nothing here asserts a duration
 * beyond "did not hang for longer than a generous bound".
 */
describe('server timeouts and caps', () => {
  let gw: TestGateway;
  let a: Tenant;
  let pkg: number;
  let host: string;

  beforeAll(async () => {
    gw = await startTestGateway({
      // Short, yet far above the 300 ms gaps of the trickling upload, even on a loaded machine.
      JCS_IDLE_TIMEOUT_MS: '2500',
      JCS_HEADERS_TIMEOUT_MS: '2500',
      JCS_KEEPALIVE_TIMEOUT_MS: '1000',
    });
    a = await gw.tenant();
    pkg = await newPackage(a);
    host = new URL(gw.url).host;
  });
  afterEach(() => destroyRawConnections());
  afterAll(async () => gw?.stop());

  it('an upload whose body flows for longer than every limit completes (no total request time)', async () => {
    // ~6 s of body, a chunk every 300 ms: longer than the idle, headers and keep-alive limits together.
    const slow = tricklingStream(20, 4096, 300);
    const res = await uploadFiles(a, pkg, [['slow/trickle.bin', slow.stream]]);
    expect(res.status).toBe(200);
    expect(res.body.data.uploadeds[0]).toMatchObject({ path: 'slow/trickle.bin', size: String(slow.bytes.length) });
    const got = await download(a, { objectID: res.body.data.uploadeds[0].objectID });
    expect(got.bytes.equals(slow.bytes)).toBe(true);
  }, 60_000);

  it('a body that stalls is cut after the idle timeout, and nothing of it is committed', async () => {
    const { body, contentType } = multipartBody([
      { name: 'info', value: JSON.stringify({ packageID: pkg }) },
      { name: 'files', filename: 'stalled.bin', data: randomBytes(1024) },
    ]);
    const form: Buffer[] = [];
    for await (const c of body) form.push(c as Buffer);
    const whole = Buffer.concat(form);
    const { init } = await a.client.signedRequest({ method: 'POST', path: '/v1/object/upload', headers: { 'content-type': contentType }, unsignedPayload: true });
    const c = await rawConnect(gw.url);
    await c.write(requestHead('POST', '/v1/object/upload', { host, ...(init.headers as Record<string, string>), 'content-length': whole.length }));
    await c.write(whole.subarray(0, whole.length - 200)); // then nothing more
    expect(await c.closed(30_000)).toBe(true);
    const listed = await a.client.get('/v1/object/getPackageObjects', { packageID: pkg });
    expect(listed.body.data.objects.map((o: any) => o.path)).not.toContain('stalled.bin');
    expect((await a.client.get('/v1/bucket/listAll')).status).toBe(200);
  });

  it('headers that arrive too slowly are cut (400 BadArgument envelope or a closed connection)', async () => {
    const c = await rawConnect(gw.url);
    await c.write(`GET /v1/bucket/listAll HTTP/1.1\r\nHost: ${host}\r\n`);
    // One header line every 400 ms, never finishing: bounded to 40 lines (16 s), far beyond the 2.5 s limit.
    for (let i = 0; i < 40 && (await c.write(`x-slow-${i}: ${i}\r\n`)); i++) await sleep(400);
    expect(await c.closed(30_000)).toBe(true);
    const res = await c.response(1000);
    if (res.status !== undefined) {
      expect(res.status).toBe(400);
      expect(JSON.parse(res.body)).toMatchObject({ code: 'BadArgument', data: null });
    }
  }, 60_000);

  it('an idle keep-alive connection is closed after the keep-alive timeout', async () => {
    const c = await rawConnect(gw.url);
    await c.write(requestHead('GET', '/healthz', { host }));
    expect((await c.response(10_000)).status).toBe(200);
    expect(await c.closed(30_000)).toBe(true);
  });

  it('20 KiB of headers is 400 BadArgument (default JCS_MAX_HEADER_BYTES 16384)', async () => {
    const res = await fetch(`${gw.url}/healthz`, { headers: { 'x-pad': 'p'.repeat(20 * 1024) } });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ code: 'BadArgument', data: null });
    expect((await fetch(`${gw.url}/healthz`, { headers: { 'x-pad': 'p'.repeat(8 * 1024) } })).status).toBe(200);
  });

  it('the server has no total request time', () => {
    expect(gw.app.getHttpServer().requestTimeout).toBe(0);
  });
});

describe('connection cap', () => {
  let gw: TestGateway;

  beforeAll(async () => {
    gw = await startTestGateway({ JCS_MAX_CONNECTIONS: '2' });
  });
  afterEach(() => destroyRawConnections());
  afterAll(async () => gw?.stop());

  it('refuses connections beyond JCS_MAX_CONNECTIONS, and takes new ones once some close', async () => {
    const host = new URL(gw.url).host;
    const first = await rawConnect(gw.url);
    const second = await rawConnect(gw.url);
    // Both are served (and kept open).
    for (const c of [first, second]) {
      await c.write(requestHead('GET', '/healthz', { host }));
      expect((await c.response(10_000)).status).toBe(200);
    }
    const third = await rawConnect(gw.url);
    await third.write(requestHead('GET', '/healthz', { host }));
    expect(await third.closed(10_000)).toBe(true);
    expect((await third.response(100)).status).toBeUndefined();

    first.socket.destroy();
    // The server counts the closed socket down asynchronously: retry a bounded number of times.
    let status: number | undefined;
    for (let i = 0; i < 50 && status !== 200; i++) {
      const c = await rawConnect(gw.url);
      await c.write(requestHead('GET', '/healthz', { host, connection: 'close' }));
      status = (await c.response(5000)).status;
      if (status !== 200) await sleep(100);
    }
    expect(status).toBe(200);
  });
});
