import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { SignedClient } from './support/signed-client.js';
import { startTestGateway, type Tenant, type TestGateway } from './support/gateway.js';

describe('SigV4 authentication over HTTP (spec §2)', () => {
  let gw: TestGateway;
  let a: Tenant;

  beforeAll(async () => {
    gw = await startTestGateway();
    a = await gw.tenant();
    await a.client.post('/v1/bucket/create', { name: 'auth-bucket' });
  });
  afterAll(async () => gw?.stop());

  const expect401 = (res: { status: number; body: any }) => {
    expect(res.status).toBe(401);
    expect(res.body).toEqual({ code: 'Unauthorized', message: expect.any(String), data: null });
  };

  it('refuses a request without any signature', async () => {
    const res = await fetch(`${gw.url}/v1/bucket/listAll`);
    expect401({ status: res.status, body: await res.json() });
  });

  it('refuses an unknown access key', async () => {
    const c = new SignedClient(gw.url, { accessKey: 'JCSUNKNOWNKEY0000000', secretKey: 'x'.repeat(40) });
    expect401(await c.get('/v1/bucket/listAll'));
  });

  it('refuses a wrong secret, and never echoes the secret', async () => {
    const c = new SignedClient(gw.url, { accessKey: a.accessKey, secretKey: a.secretKey + 'x' });
    const res = await c.get('/v1/bucket/listAll');
    expect401(res);
    expect(JSON.stringify(res.body)).not.toContain(a.secretKey);
  });

  it('refuses a tampered body', async () => {
    const { url, init } = await a.client.signedRequest({
      method: 'POST',
      path: '/v1/bucket/create',
      body: JSON.stringify({ name: 'original' }),
      headers: { 'content-type': 'application/json' },
    });
    const res = await fetch(url, { ...init, body: JSON.stringify({ name: 'tampered' }) });
    expect401({ status: res.status, body: await res.json() });
    expect((await a.client.get('/v1/bucket/getByName', { name: 'tampered' })).body.code).toBe('DataNotFound');
  });

  it('refuses a tampered body even when the signed payload hash is sent as a header', async () => {
    const { createHash } = await import('node:crypto');
    const body = JSON.stringify({ name: 'hashed' });
    const { url, init } = await a.client.signedRequest({
      method: 'POST',
      path: '/v1/bucket/create',
      body,
      headers: { 'content-type': 'application/json', 'x-amz-content-sha256': createHash('sha256').update(body).digest('hex') },
    });
    const ok = await fetch(url, init);
    expect(ok.status).toBe(200);
    const res = await fetch(url, { ...init, body: JSON.stringify({ name: 'hashed-2' }) });
    expect401({ status: res.status, body: await res.json() });
  });

  it('refuses a tampered query', async () => {
    const { url, init } = await a.client.signedRequest({ method: 'GET', path: '/v1/bucket/getByName', query: { name: 'auth-bucket' } });
    const res = await fetch(url.replace('auth-bucket', 'other'), init);
    expect401({ status: res.status, body: await res.json() });
  });

  it('refuses a stale date (16 minutes old) and a future one', async () => {
    expect401(await a.client.json({ path: '/v1/bucket/listAll', signingDate: new Date(Date.now() - 16 * 60_000) }));
    expect401(await a.client.json({ path: '/v1/bucket/listAll', signingDate: new Date(Date.now() + 16 * 60_000) }));
  });

  it('accepts a date within the 15-minute skew', async () => {
    const res = await a.client.json({ path: '/v1/bucket/listAll', signingDate: new Date(Date.now() - 10 * 60_000) });
    expect(res.status).toBe(200);
  });

  it('accepts any region in the credential scope', async () => {
    const c = new SignedClient(gw.url, { accessKey: a.accessKey, secretKey: a.secretKey }, 'cn-north-4');
    expect((await c.get('/v1/bucket/listAll')).status).toBe(200);
  });

  it('accepts UNSIGNED-PAYLOAD on a JSON route', async () => {
    const res = await a.client.json({
      method: 'POST',
      path: '/v1/bucket/create',
      body: JSON.stringify({ name: 'unsigned' }),
      headers: { 'content-type': 'application/json' },
      unsignedPayload: true,
    });
    expect(res.body.code).toBe('OK');
  });

  it('accepts a valid presigned GET', async () => {
    const url = await a.client.presign('/v1/bucket/getByName', { name: 'auth-bucket' }, 300);
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(((await res.json()) as any).data.bucket.name).toBe('auth-bucket');
  });

  it('refuses an expired presigned GET', async () => {
    const url = await a.client.presign('/v1/bucket/getByName', { name: 'auth-bucket' }, 60, new Date(Date.now() - 5 * 60_000));
    const res = await fetch(url);
    expect401({ status: res.status, body: await res.json() });
  });

  it('refuses a presigned URL valid for more than 7 days', async () => {
    // The SDK's presigner itself refuses lifetimes over 7 days, so stretch a valid URL's lifetime.
    const url = await a.client.presign('/v1/bucket/listAll', {}, 3600);
    const res = await fetch(url.replace('X-Amz-Expires=3600', `X-Amz-Expires=${7 * 24 * 3600 + 1}`));
    const body: any = await res.json();
    expect401({ status: res.status, body });
    expect(body.message).toContain('X-Amz-Expires');
  });

  it('refuses a malformed Authorization header', async () => {
    const res = await fetch(`${gw.url}/v1/bucket/listAll`, { headers: { authorization: 'AWS4-HMAC-SHA256 garbage' } });
    expect401({ status: res.status, body: await res.json() });
  });

  it('refuses a revoked key', async () => {
    const t = await gw.tenant();
    expect((await t.client.get('/v1/bucket/listAll')).status).toBe(200);
    const { TenantsService } = await import('#auth');
    await gw.app.get(TenantsService).revokeKey(t.accessKey);
    expect401(await t.client.get('/v1/bucket/listAll'));
  });

  /** Polls until `check` holds: a notification crosses two connections, so "at once" means within moments, not 60 s of cache. */
  const eventually = async (check: () => Promise<boolean>) => {
    for (const deadline = Date.now() + 5000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 50))) if (await check()) return true;
    return check();
  };

  it('drops a cached key revoked elsewhere (plain SQL, as the CLI or another gateway would) well before the cache would expire', async () => {
    const t = await gw.tenant();
    for (let i = 0; i < 3; i++) expect((await t.client.get('/v1/bucket/listAll')).status).toBe(200); // cached now
    await gw.sql('UPDATE access_keys SET revoke_time = now() WHERE access_key_id = $1', [t.accessKey]);
    expect(await eventually(async () => (await t.client.get('/v1/bucket/listAll')).status === 401)).toBe(true);
    expect401(await t.client.get('/v1/bucket/listAll'));
  });

  it('forgets every cached key when its listener connection is cut, so a revocation it could not hear still applies', async () => {
    const t = await gw.tenant();
    for (let i = 0; i < 3; i++) expect((await t.client.get('/v1/bucket/listAll')).status).toBe(200);
    const cut = await gw.sql(
      "SELECT pg_terminate_backend(pid) AS cut FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'jcs-access-key-cache'",
    );
    expect(cut).toEqual([{ cut: true }]);
    await gw.sql('UPDATE access_keys SET revoke_time = now() WHERE access_key_id = $1', [t.accessKey]);
    expect(await eventually(async () => (await t.client.get('/v1/bucket/listAll')).status === 401)).toBe(true);
    // The listener comes back and the cache serves again: another tenant keeps working throughout.
    expect(await eventually(async () => (await gw.sql("SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'jcs-access-key-cache' AND query ILIKE 'LISTEN%'")).length === 1)).toBe(true);
    expect((await a.client.get('/v1/bucket/listAll')).status).toBe(200);
  });

  it('accepts requests signed by curl --aws-sigv4 (as the README shows), raw query included', async () => {
    const { execFile } = await import('node:child_process');
    const { promisify } = await import('node:util');
    const curl = async (...args: string[]) =>
      JSON.parse((await promisify(execFile)('curl', ['-s', '--aws-sigv4', 'aws:amz:any:jcs', '--user', `${a.accessKey}:${a.secretKey}`, ...args])).stdout);
    const created = await curl('-H', 'content-type: application/json', '-d', '{"name":"by-curl"}', `${gw.url}/v1/bucket/create`);
    expect(created).toMatchObject({ code: 'OK', data: { bucket: { name: 'by-curl' } } });
    const got = await curl(`${gw.url}/v1/bucket/getByName?name=by-curl&x=a/b`);
    expect(got).toMatchObject({ code: 'OK', data: { bucket: { name: 'by-curl' } } });
  });

  it('leaves health probes and docs unauthenticated', async () => {
    expect((await fetch(`${gw.url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${gw.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(((await ready.json()) as any).data).toEqual({ status: 'ready', postgres: 'up', redis: 'up' });
    const doc = (await (await fetch(`${gw.url}/docs-json`)).json()) as any;
    expect(doc.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/v1/bucket/create', '/v1/package/create']));
    expect((await fetch(`${gw.url}/docs`)).status).toBe(200);
  });

  it('echoes a request id, or makes one', async () => {
    const given = await fetch(`${gw.url}/healthz`, { headers: { 'x-request-id': 'abc-123' } });
    expect(given.headers.get('x-request-id')).toBe('abc-123');
    const made = await fetch(`${gw.url}/healthz`);
    expect(made.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });
});
