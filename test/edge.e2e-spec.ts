import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestGateway, type Tenant, type TestGateway } from './support/gateway.js';
import { destroyRawConnections, rawConnect, requestHead, type RawConnection, type RawResponse } from './support/raw-connection.js';

/**
 * The order at the HTTP edge: authentication (from method, path, query and headers alone) before any
 * body byte is read, then the one input gate (body size, content type, charset, UTF-8, JSON depth,
 * NUL and lone surrogates, query decoding), then validation.
 */
describe('HTTP edge: auth before body, one input gate, one query reading', () => {
  let gw: TestGateway;
  let a: Tenant;
  let host: string;
  const MAX_JSON = 64 * 1024;

  beforeAll(async () => {
    gw = await startTestGateway({ JCS_MAX_JSON_BODY: String(MAX_JSON) });
    a = await gw.tenant();
    host = new URL(gw.url).host;
  });
  afterEach(() => destroyRawConnections());
  afterAll(async () => gw?.stop());

  const envelope = (code: string) => ({ code, message: expect.any(String), data: null });
  const postRaw = (body: string | Buffer, contentType: string) =>
    a.client.json({ method: 'POST', path: '/v1/bucket/create', body, headers: { 'content-type': contentType } });

  describe('unsigned requests are 401 whatever their body', () => {
    it('malformed JSON', async () => {
      const res = await fetch(`${gw.url}/v1/bucket/create`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":' });
      expect(res.status).toBe(401);
      expect(await res.json()).toEqual(envelope('Unauthorized'));
      expect(res.headers.get('x-request-id')).toBeTruthy(); // the request logger ran before the edge answered
    });

    it('a badly signed request with malformed JSON', async () => {
      const { url, init } = await a.client.signedRequest({ method: 'POST', path: '/v1/bucket/create', body: '{"name":"x"}', headers: { 'content-type': 'application/json' } });
      const headers = { ...(init.headers as Record<string, string>) };
      headers.authorization = headers.authorization.replace(/Signature=[0-9a-f]+/, `Signature=${'0'.repeat(64)}`);
      const res = await fetch(url, { ...init, headers, body: '{"name":' });
      expect(res.status).toBe(401);
      expect(await res.json()).toEqual(envelope('Unauthorized'));
    });

    it('a 12 MiB body is answered 401 before a byte of it is sent, then the connection is closed', async () => {
      const size = 12 * 1024 * 1024;
      const c = await rawConnect(gw.url);
      await c.write(requestHead('POST', '/v1/bucket/create', { host, 'content-type': 'application/json', 'content-length': size }));
      const res = await c.response(20_000);
      expect(res.status).toBe(401);
      expect(JSON.parse(res.body)).toEqual(envelope('Unauthorized'));
      expect(res.headers.connection).toBe('close');
      // The server will not read the body: writing it ends in a closed connection, not a hang.
      const chunk = Buffer.alloc(1024 * 1024, 0x20);
      for (let i = 0; i < 12 && (await c.write(chunk)); i++);
      expect(await c.closed(20_000)).toBe(true);
    });

    it('a chunked body without end is answered 401', async () => {
      const c = await rawConnect(gw.url);
      await c.write(requestHead('POST', '/v1/bucket/create', { host, 'content-type': 'application/json', 'transfer-encoding': 'chunked' }));
      await c.write('10\r\n{"name":"abcdefg\r\n');
      const res = await c.response(20_000);
      expect(res.status).toBe(401);
      expect(await c.closed(20_000)).toBe(true);
    });

    it('a Content-Length whose body never arrives is answered 401 promptly', async () => {
      const c = await rawConnect(gw.url);
      await c.write(requestHead('POST', '/v1/bucket/create', { host, 'content-type': 'application/json', 'content-length': 100 }));
      const res = await c.response(20_000); // far below the idle timeout (120 s): no waiting for the body
      expect(res.status).toBe(401);
      expect(JSON.parse(res.body)).toEqual(envelope('Unauthorized'));
      c.socket.destroy();
    });

    it('Expect: 100-continue is never granted to an unsigned request, and granted once signed', async () => {
      const c = await rawConnect(gw.url);
      await c.write(requestHead('POST', '/v1/bucket/create', { host, 'content-type': 'application/json', 'content-length': 12, expect: '100-continue' }));
      const res = await c.response(20_000);
      expect(res.status).toBe(401);

      const body = '{"name":"continued"}';
      const { init } = await a.client.signedRequest({ method: 'POST', path: '/v1/bucket/create', body, headers: { 'content-type': 'application/json' } });
      const s = await rawConnect(gw.url);
      await s.write(requestHead('POST', '/v1/bucket/create', { host, ...(init.headers as Record<string, string>), 'content-length': body.length, expect: '100-continue' }));
      const interim = await s.response(20_000);
      expect(interim.status).toBe(100);
      await s.write(body);
      const final = await s.response(20_000);
      expect(final.status).toBe(200);
      expect(JSON.parse(final.body).data.bucket.name).toBe('continued');
    });

    it('a body signed over its own hash (curl style) from an unknown key is 401 without waiting for the body', async () => {
      const c = await rawConnect(gw.url);
      const date = new Date().toISOString().replace(/[-:]|\.\d{3}/g, '');
      await c.write(
        requestHead('POST', '/v1/bucket/create', {
          host,
          'content-type': 'application/json',
          'content-length': 100,
          'x-amz-date': date,
          authorization: `AWS4-HMAC-SHA256 Credential=JCSNOSUCHKEY/${date.slice(0, 8)}/any/jcs/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=${'a'.repeat(64)}`,
        }),
      );
      const res = await c.response(20_000);
      expect(res.status).toBe(401);
    });

    it('bodies awaiting their signature (curl style, known key) are bounded together: 503 beyond, room again once they end', async () => {
      const date = new Date().toISOString().replace(/[-:]|\.\d{3}/g, '');
      const head = requestHead('POST', '/v1/bucket/create', {
        host,
        'content-type': 'application/json',
        'content-length': MAX_JSON,
        'x-amz-date': date,
        expect: '100-continue',
        authorization: `AWS4-HMAC-SHA256 Credential=${a.accessKey}/${date.slice(0, 8)}/any/jcs/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=${'a'.repeat(64)}`,
      });
      const waiting: RawConnection[] = [];
      for (let i = 0; i < 8; i++) {
        const c = await rawConnect(gw.url);
        await c.write(head);
        // The body reader invites the body once it has reserved room for it.
        expect((await c.response(20_000)).status).toBe(100);
        waiting.push(c);
      }
      // Eight bodies of the largest size are being waited for: the ninth is refused at once, uninvited.
      const ninth = await rawConnect(gw.url);
      await ninth.write(head);
      const refused: RawResponse = await ninth.response(20_000);
      expect(refused.status).toBe(503);
      expect(JSON.parse(refused.body)).toEqual(envelope('OperationFailed'));
      // The first one's body arrives (a wrong signature: 401); the others go away.
      await waiting[0].write(Buffer.alloc(MAX_JSON, 0x20));
      expect((await waiting[0].response(20_000)).status).toBe(401);
      for (const c of waiting.slice(1)) c.socket.destroy();
      // A real curl-signed body (verified with the body, so it needs the budget) is taken again.
      const { execFile } = await import('node:child_process');
      const { promisify } = await import('node:util');
      let code: string | undefined;
      for (let i = 0; i < 50 && code !== 'OK'; i++) {
        const { stdout } = await promisify(execFile)('curl', ['-s', '--aws-sigv4', 'aws:amz:any:jcs', '--user', `${a.accessKey}:${a.secretKey}`,
          '-H', 'content-type: application/json', '-d', `{"name":"after-budget-${i}"}`, `${gw.url}/v1/bucket/create`]);
        code = JSON.parse(stdout).code;
        if (code !== 'OK') await new Promise((r) => setTimeout(r, 100));
      }
      expect(code).toBe('OK');
    });

    it('unknown /v1 routes are 401 unsigned and 404 signed; public probes need no signature', async () => {
      expect((await fetch(`${gw.url}/v1/nope`)).status).toBe(401);
      const signed = await a.client.get('/v1/nope');
      expect(signed.status).toBe(404);
      expect(signed.body).toEqual(envelope('DataNotFound'));
      expect((await fetch(`${gw.url}/healthz`)).status).toBe(200);
    });

    it('a /v1 route spelled in another case is still authenticated', async () => {
      const res = await fetch(`${gw.url}/V1/bucket/listAll`);
      expect(res.status).toBe(401);
    });
  });

  describe('signed bodies pass one input gate (BadArgument 400)', () => {
    it.each([
      ['nested 5,000 deep', '{"name":"deep","x":' + '['.repeat(5000) + ']'.repeat(5000) + '}'],
      ['a lone surrogate in a string', '{"name":"\\ud800"}'],
      ['a lone surrogate in a key', '{"name":"k","\\udc00":1}'],
      ['NUL in a string', '{"name":"a\\u0000b"}'],
      ['not JSON', '{"name":'],
    ])('%s', async (_, body) => {
      const res = await postRaw(body, 'application/json');
      expect(res.status).toBe(400);
      expect(res.body).toEqual(envelope('BadArgument'));
    });

    it('invalid UTF-8', async () => {
      const res = await postRaw(Buffer.concat([Buffer.from('{"name":"a'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]), 'application/json');
      expect(res.status).toBe(400);
      expect(res.body).toEqual(envelope('BadArgument'));
    });

    it.each([
      ['utf-16le', Buffer.from('{"name":"u16"}', 'utf16le')],
      ['latin1', Buffer.from('{"name":"l1"}', 'latin1')],
    ])('charset=%s', async (charset, body) => {
      const res = await postRaw(body, `application/json; charset=${charset}`);
      expect(res.status).toBe(400);
      expect(res.body).toEqual(envelope('BadArgument'));
      expect((await a.client.get('/v1/bucket/listAll')).body.data.buckets.map((b: any) => b.name)).not.toContain(charset === 'latin1' ? 'l1' : 'u16');
    });

    it('charset=UTF-8 in any case is fine', async () => {
      expect((await postRaw('{"name":"utf8-ok"}', 'application/json; charset=UTF-8')).body.code).toBe('OK');
    });

    it.each(['text/plain', 'application/x-www-form-urlencoded', 'application/jsonx'])('content type %s on a JSON route', async (type) => {
      const res = await postRaw('{"name":"typed"}', type);
      expect(res.status).toBe(400);
      expect(res.body).toEqual(envelope('BadArgument'));
    });

    it('a body without a content type', async () => {
      const res = await a.client.json({ method: 'POST', path: '/v1/bucket/create', body: '{"name":"untyped"}' });
      expect(res.status).toBe(400);
      expect(res.body).toEqual(envelope('BadArgument'));
    });

    it('JSON on an upload route, multipart on a JSON route', async () => {
      const upload = await postRawTo(a, '/v1/object/upload', '{"packageID":1}', 'application/json');
      expect(upload.status).toBe(400);
      expect(upload.body).toEqual(envelope('BadArgument'));
      const form = '--XX\r\nContent-Disposition: form-data; name="name"\r\n\r\nformy\r\n--XX--\r\n';
      const json = await postRawTo(a, '/v1/bucket/create', form, 'multipart/form-data; boundary=XX');
      expect(json.status).toBe(400);
      expect(json.body).toEqual(envelope('BadArgument'));
    });

    it('a body larger than JCS_MAX_JSON_BODY is refused once signed (413)', async () => {
      const res = await postRaw(JSON.stringify({ name: 'big', pad: 'x'.repeat(MAX_JSON) }), 'application/json');
      expect(res.status).toBe(413);
      expect(res.body).toMatchObject({ code: 'QuotaExceeded', data: null });
    });

    it('a body that differs from the signed hash is 401, even when it is not JSON', async () => {
      const { url, init } = await a.client.signedRequest({ method: 'POST', path: '/v1/bucket/create', body: '{"name":"signed"}', headers: { 'content-type': 'application/json' } });
      expect((init.headers as Record<string, string>)['x-amz-content-sha256']).toMatch(/^[0-9a-f]{64}$/);
      for (const body of ['{"name":"other!"}', '{"name":', '[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[']) {
        const res = await fetch(url, { ...init, body });
        expect(res.status).toBe(401);
        expect(await res.json()).toEqual(envelope('Unauthorized'));
      }
      expect((await a.client.get('/v1/bucket/getByName', { name: 'other!' })).status).toBe(404);
    });

    it('a valid signed JSON body still works, userID checks included', async () => {
      expect((await a.client.post('/v1/bucket/create', { name: 'fine', userID: a.userID })).body.code).toBe('OK');
      const foreign = await a.client.post('/v1/bucket/create', { name: 'foreign', userID: a.userID + 1000 });
      expect(foreign.status).toBe(403);
      expect(foreign.body).toEqual(envelope('Unauthorized'));
    });
  });

  describe('queries', () => {
    it('a NUL in a query value is BadArgument, not a database error', async () => {
      for (const q of [{ bucketName: '\0', packageName: 'p' }, { bucketName: 'b', packageName: 'x\0y' }]) {
        const res = await a.client.get('/v1/package/getByFullName', q);
        expect(res.status).toBe(400);
        expect(res.body).toEqual(envelope('BadArgument'));
      }
      const res = await a.client.get('/v1/bucket/getByName', { name: 'a\0' });
      expect(res.status).toBe(400);
    });

    it('invalid percent-encoding or UTF-8 in a query is refused (unsigned: 401)', async () => {
      for (const q of ['name=%zz', 'name=%ff', 'name=%ed%a0%80']) {
        const res = await fetch(`${gw.url}/v1/bucket/getByName?${q}`);
        expect(res.status).toBe(401);
        expect(await res.json()).toEqual(envelope('Unauthorized'));
      }
    });

    it('public routes pass the same query gate', async () => {
      for (const q of ['a=%zz', 'a=%00', 'a%00=1', 'a=%ff']) {
        const res = await fetch(`${gw.url}/healthz?${q}`);
        expect(res.status).toBe(400);
        expect(await res.json()).toEqual(envelope('BadArgument'));
      }
      expect((await fetch(`${gw.url}/healthz?a=1+1`)).status).toBe(200);
    });

    it('"+" in a query is a literal plus, for the signature and for routing alike', async () => {
      const plus = (await a.client.post('/v1/bucket/create', { name: 'a+b' })).body.data.bucket;
      const space = (await a.client.post('/v1/bucket/create', { name: 'a b' })).body.data.bucket;
      expect(plus.bucketID).not.toBe(space.bucketID);
      // Signed over name=a+b (the SDK's canonical form is name=a%2Bb); on the wire once as '+', once as '%2B'.
      const { url, init } = await a.client.signedRequest({ method: 'GET', path: '/v1/bucket/getByName', query: { name: 'a+b' } });
      expect(url).toContain('name=a%2Bb');
      for (const wire of [url, url.replace('name=a%2Bb', 'name=a+b')]) {
        const res = await fetch(wire, init);
        expect(res.status).toBe(200);
        expect(((await res.json()) as any).data.bucket.bucketID).toBe(plus.bucketID);
      }
      // Signed over 'a b' and sent as '%20': the bucket with the space; '+' never stands for a space.
      const spaced = await a.client.get('/v1/bucket/getByName', { name: 'a b' });
      expect(spaced.body.data.bucket.bucketID).toBe(space.bucketID);
      const { url: u2, init: i2 } = await a.client.signedRequest({ method: 'GET', path: '/v1/bucket/getByName', query: { name: 'a b' } });
      const res = await fetch(u2.replace('name=a%20b', 'name=a+b'), i2);
      expect(res.status).toBe(401); // 'a+b' is not what was signed
    });

    it('a presigned URL routes the same value it signed', async () => {
      const url = await a.client.presign('/v1/bucket/getByName', { name: 'a+b' }, 300);
      const res = await fetch(url);
      expect(res.status).toBe(200);
      expect(((await res.json()) as any).data.bucket.name).toBe('a+b');
    });
  });
});

function postRawTo(t: Tenant, path: string, body: string, contentType: string) {
  return t.client.json({ method: 'POST', path, body, headers: { 'content-type': contentType } });
}
