import { createHash } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { SignatureV4 } from '@aws-sdk/signature-v4';
import { Sha256 } from '@aws-crypto/sha256-js';
import { DomainError } from '#common';
import { verifySigV4, verifySigV4BeforeBody, type SecretLookup, type SigV4Identity, type SigV4Options, type SigV4Request } from './index.js';

// Every signature here comes from the AWS SDK's own signer, never from the code under test.

const AK = 'AKIDJCSEXAMPLE';
const SECRET = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYJCSSECRETKEY';
const T0 = new Date('2025-03-04T05:06:07Z');
const MIN = 60_000;
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const sha256Hex = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');

interface Outgoing {
  method: string;
  protocol: string;
  hostname: string;
  port?: number;
  path: string;
  query: Record<string, string | string[]>;
  headers: Record<string, string>;
  body?: string;
}

interface SignerConfig {
  service?: string;
  region?: string;
  accessKeyId?: string;
  secret?: string;
  uriEscapePath?: boolean;
  applyChecksum?: boolean;
}

function makeSigner(c: SignerConfig = {}) {
  return new SignatureV4({
    service: c.service ?? 'jcs',
    region: c.region ?? 'any',
    credentials: { accessKeyId: c.accessKeyId ?? AK, secretAccessKey: c.secret ?? SECRET },
    sha256: Sha256,
    uriEscapePath: c.uriEscapePath,
    applyChecksum: c.applyChecksum,
  });
}

function outgoing(r: Partial<Outgoing> & { path: string }): Outgoing {
  return {
    method: r.method ?? 'GET',
    protocol: 'http:',
    hostname: '127.0.0.1',
    port: 7890,
    path: r.path,
    query: r.query ?? {},
    // The signer ignores hostname/port and signs whatever `host` header it is given.
    headers: { host: '127.0.0.1:7890', ...r.headers },
    body: r.body,
  };
}

async function sign(r: Outgoing, c: SignerConfig = {}, signingDate = T0): Promise<Outgoing> {
  return (await makeSigner(c).sign(r as never, { signingDate })) as unknown as Outgoing;
}

async function presign(r: Outgoing, expiresIn: number, c: SignerConfig = {}, extra: object = {}): Promise<Outgoing> {
  return (await makeSigner(c).presign(r as never, { expiresIn, signingDate: T0, ...extra })) as unknown as Outgoing;
}

/** Strict RFC 3986 query encoding, as a careful client puts it on the wire. */
const rfc3986 = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/** What the gateway would see for this request: lowercase headers and a raw query string. */
function received(r: Outgoing, bodySha256Hex?: string, encode: (s: string) => string = rfc3986): SigV4Request {
  const query = Object.entries(r.query)
    .flatMap(([k, v]) => (Array.isArray(v) ? v : [v]).map((x) => `${encode(k)}=${encode(x)}`))
    .join('&');
  const headers = Object.fromEntries(Object.entries(r.headers).map(([k, v]) => [k.toLowerCase(), v]));
  return { method: r.method, path: r.path, query, headers, bodySha256Hex };
}

const keys: Record<string, string> = { [AK]: SECRET };
const lookup: SecretLookup = async (id) => keys[id] ?? null;
const opts = (o: Partial<SigV4Options> = {}): SigV4Options => ({ service: 'jcs', now: T0, ...o });

/** Collected from every rejection, to check none leaks the secret. */
const messages: string[] = [];

async function rejects(p: Promise<unknown>, message?: RegExp): Promise<DomainError> {
  let error: unknown;
  try {
    await p;
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(DomainError);
  const d = error as DomainError;
  expect(d.code).toBe('Unauthorized');
  expect(d.status).toBe(401);
  if (message) expect(d.message).toMatch(message);
  messages.push(d.message);
  return d;
}

describe('verifySigV4: header-signed requests', () => {
  const query = {
    q: 'hello world',
    name: 'ünïcødé/ሴ',
    expr: '1+1=2',
    odd: "it's (ok)!*~",
    'key with space': 'v',
    tag: ['z', 'é', 'a b', 'A', 'a+b'],
  };

  it('accepts a GET with awkward query values and repeated keys (strict RFC 3986 on the wire)', async () => {
    const signed = await sign(outgoing({ path: '/v1/bucket/list', query }));
    const id = await verifySigV4(received(signed, EMPTY_SHA256), lookup, opts());
    expect(id).toEqual({
      accessKeyId: AK,
      region: 'any',
      presigned: false,
      payloadHash: EMPTY_SHA256,
      payloadHashPending: false,
    });
  });

  it('accepts the same GET when the client encodes the query with plain encodeURIComponent', async () => {
    const signed = await sign(outgoing({ path: '/v1/bucket/list', query }));
    const req = received(signed, EMPTY_SHA256, encodeURIComponent);
    expect(req.query).toContain("(ok)!*"); // really sent unescaped
    await expect(verifySigV4(req, lookup, opts())).resolves.toMatchObject({ accessKeyId: AK });
  });

  it('accepts a POST whose signer left out x-amz-content-sha256 (curl style) when the body is buffered', async () => {
    const body = JSON.stringify({ userID: 1, name: 'b1' });
    const signed = await sign(outgoing({ method: 'POST', path: '/v1/bucket/create', body, headers: { 'content-type': 'application/json' } }), {
      applyChecksum: false,
    });
    expect(signed.headers['x-amz-content-sha256']).toBeUndefined();
    const id = await verifySigV4(received(signed, sha256Hex(body)), lookup, opts());
    expect(id).toMatchObject({ payloadHash: sha256Hex(body), payloadHashPending: false });
  });

  it('rejects a request without x-amz-content-sha256 whose body is streamed (nothing to hash)', async () => {
    const signed = await sign(outgoing({ method: 'POST', path: '/v1/object/upload', body: 'x' }), { applyChecksum: false });
    await rejects(verifySigV4(received(signed, undefined), lookup, opts()), /streamed request must send x-amz-content-sha256/);
  });

  it('accepts a POST with the explicit hex x-amz-content-sha256 the SDK adds', async () => {
    const body = JSON.stringify({ userID: 1 });
    const signed = await sign(outgoing({ method: 'POST', path: '/v1/bucket/create', body }));
    expect(signed.headers['x-amz-content-sha256']).toBe(sha256Hex(body));
    const id = await verifySigV4(received(signed, sha256Hex(body)), lookup, opts());
    expect(id).toMatchObject({ payloadHash: sha256Hex(body), payloadHashPending: false });
  });

  it('accepts UNSIGNED-PAYLOAD, buffered or streamed, with nothing pending', async () => {
    const r = outgoing({ method: 'POST', path: '/v1/object/upload', body: 'data', headers: { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' } });
    const signed = await sign(r);
    for (const bodyHash of [undefined, sha256Hex('anything')]) {
      const id = await verifySigV4(received(signed, bodyHash), lookup, opts());
      expect(id).toMatchObject({ payloadHash: 'UNSIGNED-PAYLOAD', payloadHashPending: false });
    }
  });

  it('accepts a signed hex hash with a streamed body and reports it as pending', async () => {
    const body = 'streamed bytes';
    const signed = await sign(outgoing({ method: 'POST', path: '/v1/object/upload', body }));
    const id = await verifySigV4(received(signed, undefined), lookup, opts());
    expect(id).toMatchObject({ payloadHash: sha256Hex(body), payloadHashPending: true });
  });

  it('rejects a buffered body that differs from the signed hash', async () => {
    const signed = await sign(outgoing({ method: 'POST', path: '/v1/bucket/create', body: '{"name":"a"}' }));
    await rejects(verifySigV4(received(signed, sha256Hex('{"name":"evil"}')), lookup, opts()), /payload hash mismatch/);
  });

  it('rejects chunked (aws-chunked) payload signing with a hint', async () => {
    const r = outgoing({
      method: 'PUT',
      path: '/v1/object/upload',
      headers: { 'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD', 'content-encoding': 'aws-chunked' },
    });
    await rejects(verifySigV4(received(await sign(r)), lookup, opts()), /chunked .*not supported.*UNSIGNED-PAYLOAD/);
  });

  it('accepts any region and returns it', async () => {
    const signed = await sign(outgoing({ path: '/v1/x' }), { region: 'eu-west-9' });
    await expect(verifySigV4(received(signed, EMPTY_SHA256), lookup, opts())).resolves.toMatchObject({ region: 'eu-west-9' });
  });

  it('accepts signatures within the clock skew on either side', async () => {
    const signed = received(await sign(outgoing({ path: '/v1/x' })), EMPTY_SHA256);
    for (const now of [new Date(T0.getTime() + 14 * MIN), new Date(T0.getTime() - 14 * MIN)]) {
      await expect(verifySigV4(signed, lookup, opts({ now }))).resolves.toMatchObject({ accessKeyId: AK });
    }
  });
});

describe('verifySigV4: header-signed rejections', () => {
  const good = async (r: Partial<Outgoing> = {}, c: SignerConfig = {}) =>
    received(await sign(outgoing({ path: '/v1/bucket/list', query: { a: '1' }, headers: { 'x-tenant': 't1' }, ...r }), c), EMPTY_SHA256);

  it('rejects a tampered query', async () => {
    const req = await good();
    await rejects(verifySigV4({ ...req, query: 'a=2' }, lookup, opts()), /signature does not match/);
    await rejects(verifySigV4({ ...req, query: 'a=1&b=2' }, lookup, opts()), /signature does not match/);
  });

  it('rejects a tampered signed header, host included', async () => {
    const req = await good();
    await rejects(verifySigV4({ ...req, headers: { ...req.headers, 'x-tenant': 't2' } }, lookup, opts()), /signature does not match/);
    await rejects(verifySigV4({ ...req, headers: { ...req.headers, host: 'other:7890' } }, lookup, opts()), /signature does not match/);
  });

  it('rejects a tampered path or method', async () => {
    const req = await good();
    await rejects(verifySigV4({ ...req, path: '/v1/bucket/delete' }, lookup, opts()), /signature does not match/);
    await rejects(verifySigV4({ ...req, method: 'DELETE' }, lookup, opts()), /signature does not match/);
  });

  it('rejects a wrong secret and an unknown key with the same message', async () => {
    const wrong = await rejects(verifySigV4(await good({}, { secret: 'not-the-secret' }), lookup, opts()));
    const unknown = await rejects(verifySigV4(await good({}, { accessKeyId: 'AKIDUNKNOWN' }), lookup, opts()));
    expect(wrong.message).toBe(unknown.message);
    expect(wrong.message).toMatch(/invalid access key or signature/);
  });

  it('does not consult the key store for requests that fail before the signature', async () => {
    let calls = 0;
    const counting: SecretLookup = async (id) => (calls++, keys[id] ?? null);
    await rejects(verifySigV4(await good(), counting, opts({ now: new Date(T0.getTime() + 60 * MIN) })));
    expect(calls).toBe(0);
  });

  it('rejects a request without Authorization', async () => {
    const req = await good();
    const { authorization: _, ...headers } = req.headers;
    await rejects(verifySigV4({ ...req, headers }, lookup, opts()), /missing Authorization/);
  });

  it.each([
    ['garbage', /malformed Authorization/],
    ['AWS4-HMAC-SHA256', /malformed Authorization/],
    ['AWS4-HMAC-SHA512 Credential=AKIDJCSEXAMPLE/20250304/any/jcs/aws4_request, SignedHeaders=host;x-amz-date, Signature=' + 'a'.repeat(64), /unsupported signing algorithm/],
    ['AWS4-HMAC-SHA256 Credential=AKIDJCSEXAMPLE/20250304/any/jcs/aws4_request, SignedHeaders=host;x-amz-date', /required/],
    ['AWS4-HMAC-SHA256 Credential=AKIDJCSEXAMPLE/20250304/any/jcs/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc', /malformed signature/],
    ['AWS4-HMAC-SHA256 Credential=AKIDJCSEXAMPLE/20250304/any/jcs, SignedHeaders=host;x-amz-date, Signature=' + 'a'.repeat(64), /credential scope/],
    ['AWS4-HMAC-SHA256 Credential=AKIDJCSEXAMPLE/2025-03-04/any/jcs/aws4_request, SignedHeaders=host;x-amz-date, Signature=' + 'a'.repeat(64), /credential scope/],
    ['AWS4-HMAC-SHA256 Credential=AKIDJCSEXAMPLE/20250304/any/jcs/aws4_request, SignedHeaders=host;x-amz-date, Signature=' + 'a'.repeat(64) + ', Extra=1', /malformed Authorization/],
    ['AWS4-HMAC-SHA256 Credential=AKIDJCSEXAMPLE/20250304/any/jcs/aws4_request, SignedHeaders=host;;x-amz-date, Signature=' + 'a'.repeat(64), /SignedHeaders/],
    ['AWS4-HMAC-SHA256 Credential=AKIDJCSEXAMPLE/20250304/any/jcs/aws4_request, SignedHeaders=x-amz-date, Signature=' + 'a'.repeat(64), /must include host/],
    ['AWS4-HMAC-SHA256 Credential=AKIDJCSEXAMPLE/20250304/any/jcs/aws4_request, SignedHeaders=host, Signature=' + 'a'.repeat(64), /must include x-amz-date/],
  ])('rejects a malformed Authorization header %#', async (authorization, message) => {
    const req = await good();
    await rejects(verifySigV4({ ...req, headers: { ...req.headers, authorization } }, lookup, opts()), message);
  });

  it('rejects a signature for another service', async () => {
    await rejects(verifySigV4(await good({}, { service: 's3' }), lookup, opts()), /service 's3' is not 'jcs'/);
  });

  it('rejects a scope date that differs from the x-amz-date day', async () => {
    const req = await good();
    const headers = { ...req.headers, 'x-amz-date': '20250305T050607Z' };
    await rejects(verifySigV4({ ...req, headers }, lookup, opts()), /scope date 20250304 does not match/);
  });

  it('rejects a missing or ill-formed x-amz-date', async () => {
    const req = await good();
    const { 'x-amz-date': _, ...without } = req.headers;
    await rejects(verifySigV4({ ...req, headers: without }, lookup, opts()), /missing x-amz-date/);
    for (const bad of ['2025-03-04T05:06:07Z', '20250304T050607', '20251304T050607Z', '20250230T050607Z']) {
      await rejects(verifySigV4({ ...req, headers: { ...req.headers, 'x-amz-date': bad } }, lookup, opts()), /malformed x-amz-date|scope date/);
    }
  });

  it('rejects a stale and a future signing time (beyond 15 min)', async () => {
    const req = await good();
    await rejects(verifySigV4(req, lookup, opts({ now: new Date(T0.getTime() + 16 * MIN) })), /more than 15 min/);
    await rejects(verifySigV4(req, lookup, opts({ now: new Date(T0.getTime() - 16 * MIN) })), /more than 15 min/);
    await rejects(verifySigV4(req, lookup, opts({ now: new Date(T0.getTime() + 2 * MIN), maxSkewMs: MIN })), /more than 1 min/);
  });

  it('rejects a signed header that did not arrive', async () => {
    const req = await good();
    const { 'x-tenant': _, ...headers } = req.headers;
    await rejects(verifySigV4({ ...req, headers }, lookup, opts()), /signed header 'x-tenant' is missing/);
  });

  it('rejects a signature that does not cover host', async () => {
    const r = outgoing({ path: '/v1/x' });
    const { host, ...noHost } = r.headers;
    const signed = await sign({ ...r, headers: noHost });
    expect(signed.headers.authorization).toContain('SignedHeaders=x-amz-content-sha256;x-amz-date,');
    const req = received({ ...signed, headers: { ...signed.headers, host } }, EMPTY_SHA256);
    await rejects(verifySigV4(req, lookup, opts()), /must include host/);
  });

  it('rejects a malformed x-amz-content-sha256 and malformed percent-encoding', async () => {
    const req = await good();
    await rejects(verifySigV4({ ...req, headers: { ...req.headers, 'x-amz-content-sha256': 'abc' } }, lookup, opts()), /x-amz-content-sha256 must be/);
    await rejects(verifySigV4({ ...req, query: 'a=%zz' }, lookup, opts()), /percent-encoding in query/);
    await rejects(verifySigV4({ ...req, path: '/v1/%E1%88' }, lookup, opts()), /percent-encoding in path/);
  });

  it('rejects a header-signed request that also carries presigned parameters', async () => {
    const req = await good();
    await rejects(verifySigV4({ ...req, query: `${req.query}&X-Amz-Signature=${'a'.repeat(64)}` }, lookup, opts()), /not both/);
  });
});

describe('verifySigV4: path encoding', () => {
  it('accepts a space in a segment signed single-encoded (curl) and double-encoded (AWS SDK)', async () => {
    const r = outgoing({ path: '/v1/a%20b' });
    for (const uriEscapePath of [false, true]) {
      const signed = await sign(r, { uriEscapePath });
      await expect(verifySigV4(received(signed, EMPTY_SHA256), lookup, opts())).resolves.toMatchObject({ accessKeyId: AK });
    }
  });

  it('accepts reserved and non-ASCII characters the client percent-encoded', async () => {
    const signed = await sign(outgoing({ path: '/v1/%C3%BC%28x%29%2Fy/%E1%88%B4' }));
    await expect(verifySigV4(received(signed, EMPTY_SHA256), lookup, opts())).resolves.toMatchObject({ accessKeyId: AK });
  });

  it('accepts a wire path the JS SDK re-encodes as-is: raw parentheses, lower-case hex, over-encoded unreserved', async () => {
    for (const path of ['/v1/x(1)!', '/v1/%c3%bc', '/v1/%7Eme']) {
      const signed = await sign(outgoing({ path }));
      await expect(verifySigV4(received(signed, EMPTY_SHA256), lookup, opts())).resolves.toMatchObject({ accessKeyId: AK });
    }
  });

  it("does not let the single-encoded form of '/a%2520b' reuse a signature for '/a%20b'", async () => {
    const signed = received(await sign(outgoing({ path: '/v1/a%20b' })), EMPTY_SHA256);
    await rejects(verifySigV4({ ...signed, path: '/v1/a%2520b' }, lookup, opts()), /signature does not match/);
  });

  it("rejects dot segments the SDK normalises away (our router does not), failing closed", async () => {
    const signed = await sign(outgoing({ path: '/v1/evil/../bucket/list' }));
    await rejects(verifySigV4(received(signed, EMPTY_SHA256), lookup, opts()), /signature does not match/);
  });
});

/**
 * A presigned URL assembled from the SDK signer's own canonicalisation and string signing, for the
 * shapes `presign()` will not produce (a non-standard X-Expires, an expiry beyond seven days).
 */
async function presignByHand(r: Outgoing, params: Record<string, string>): Promise<Outgoing> {
  type Internals = {
    createCanonicalRequest(req: Outgoing, headers: Record<string, string>, payloadHash: string): string;
    createStringToSign(longDate: string, scope: string, canonical: string): Promise<string>;
    sign(stringToSign: string, o: { signingDate: Date }): Promise<string>;
  };
  const signer = makeSigner() as unknown as Internals;
  const longDate = '20250304T050607Z';
  const scope = '20250304/any/jcs/aws4_request';
  const query = {
    ...r.query,
    'X-Amz-Algorithm': 'AWS4-HMAC-SHA256',
    'X-Amz-Credential': `${AK}/${scope}`,
    'X-Amz-Date': longDate,
    'X-Amz-SignedHeaders': 'host',
    ...params,
  };
  const unsigned = { ...r, query };
  const canonical = signer.createCanonicalRequest(unsigned, { host: r.headers.host }, 'UNSIGNED-PAYLOAD');
  const signature = await signer.sign(await signer.createStringToSign(longDate, scope, canonical), { signingDate: T0 });
  return { ...unsigned, query: { ...query, 'X-Amz-Signature': signature } };
}

describe('verifySigV4: presigned URLs', () => {
  const r = outgoing({ path: '/v1/object/download', query: { path: 'dir/a b.txt', packageID: '7' } });

  it('accepts a presigned GET inside its window', async () => {
    const signed = await presign(r, 3600);
    expect(signed.headers.authorization).toBeUndefined();
    for (const now of [T0, new Date(T0.getTime() + 59 * MIN), new Date(T0.getTime() - 10 * MIN)]) {
      const id = await verifySigV4(received(signed, EMPTY_SHA256), lookup, opts({ now }));
      expect(id).toEqual({ accessKeyId: AK, region: 'any', presigned: true, payloadHash: EMPTY_SHA256, payloadHashPending: false });
    }
  });

  it('assumes an empty body for an unbuffered GET, and reports that as pending', async () => {
    const signed = await presign(r, 3600);
    const id = await verifySigV4(received(signed, undefined), lookup, opts());
    expect(id).toMatchObject({ payloadHash: EMPTY_SHA256, payloadHashPending: true });
  });

  it('rejects an expired or not-yet-valid presigned URL', async () => {
    const signed = received(await presign(r, 3600), EMPTY_SHA256);
    await rejects(verifySigV4(signed, lookup, opts({ now: new Date(T0.getTime() + 3601_000) })), /expired/);
    await rejects(verifySigV4(signed, lookup, opts({ now: new Date(T0.getTime() - 16 * MIN) })), /in the future/);
  });

  it('enforces maxPresignSeconds and rejects ill-formed expiries', async () => {
    const signed = received(await presign(r, 3600), EMPTY_SHA256);
    await rejects(verifySigV4(signed, lookup, opts({ maxPresignSeconds: 600 })), /X-Amz-Expires must be/);
    for (const bad of ['0', '-1', '1.5', 'abc', '']) {
      const query = signed.query.replace('X-Amz-Expires=3600', `X-Amz-Expires=${bad}`);
      await rejects(verifySigV4({ ...signed, query }, lookup, opts()), /X-Amz-Expires must be/);
    }
    const missing = signed.query.replace('X-Amz-Expires=3600&', '').replace('&X-Amz-Expires=3600', '');
    await rejects(verifySigV4({ ...signed, query: missing }, lookup, opts()), /lacks X-Amz-Expires/);
  });

  it('rejects a validly signed X-Amz-Expires beyond 604800 s (the SDK refuses to make one)', async () => {
    await expect(presign(r, 604801)).rejects.toBeDefined();
    const signed = received(await presignByHand(r, { 'X-Amz-Expires': '604801' }));
    await rejects(verifySigV4(signed, lookup, opts()), /X-Amz-Expires must be .* 604800/);
    const atLimit = received(await presignByHand(r, { 'X-Amz-Expires': '604800' }));
    await expect(verifySigV4(atLimit, lookup, opts())).resolves.toMatchObject({ presigned: true });
  });

  it('accepts the non-standard X-Expires alias, and applies it', async () => {
    const signed = received(await presignByHand(r, { 'X-Expires': '300' }));
    expect(signed.query).not.toContain('X-Amz-Expires');
    await expect(verifySigV4(signed, lookup, opts())).resolves.toMatchObject({ presigned: true, payloadHash: 'UNSIGNED-PAYLOAD' });
    await rejects(verifySigV4(signed, lookup, opts({ now: new Date(T0.getTime() + 301_000) })), /expired/);
  });

  it('accepts UNSIGNED-PAYLOAD hoisted into the query by the signer', async () => {
    const up = outgoing({ method: 'PUT', path: '/v1/object/upload', headers: { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' } });
    const signed = await presign(up, 600);
    expect(signed.query['x-amz-content-sha256']).toBe('UNSIGNED-PAYLOAD'); // hoisted, keeping the header's lowercase name
    const id = await verifySigV4(received(signed, undefined), lookup, opts());
    expect(id).toMatchObject({ presigned: true, payloadHash: 'UNSIGNED-PAYLOAD', payloadHashPending: false });
  });

  it('falls back to UNSIGNED-PAYLOAD when an S3-style presigner signed it without saying so', async () => {
    const up = outgoing({ path: '/v1/object/download', headers: { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' } });
    const hidden = new Set(['x-amz-content-sha256']);
    const signed = await presign(up, 600, {}, { unhoistableHeaders: hidden, unsignableHeaders: hidden });
    const { 'x-amz-content-sha256': _, ...headers } = signed.headers;
    expect(Object.keys(signed.query).map((k) => k.toLowerCase())).not.toContain('x-amz-content-sha256');
    const id = await verifySigV4(received({ ...signed, headers }, EMPTY_SHA256), lookup, opts());
    expect(id).toMatchObject({ presigned: true, payloadHash: 'UNSIGNED-PAYLOAD', payloadHashPending: false });
  });

  it('accepts a presigned URL for any region', async () => {
    const signed = await presign(r, 60, { region: 'eu-west-9' });
    await expect(verifySigV4(received(signed, EMPTY_SHA256), lookup, opts())).resolves.toMatchObject({ region: 'eu-west-9' });
  });

  it('rejects tampering, a wrong secret, a wrong service and a missing parameter', async () => {
    const signed = received(await presign(r, 3600), EMPTY_SHA256);
    await rejects(verifySigV4({ ...signed, query: signed.query.replace('packageID=7', 'packageID=8') }, lookup, opts()), /signature does not match/);
    await rejects(verifySigV4(received(await presign(r, 3600, { secret: 'nope' }), EMPTY_SHA256), lookup, opts()), /signature does not match/);
    await rejects(verifySigV4(received(await presign(r, 3600, { service: 'iam' }), EMPTY_SHA256), lookup, opts()), /service 'iam'/);
    const noSig = signed.query.replace(/&?X-Amz-Signature=[0-9a-f]+/, '');
    await rejects(verifySigV4({ ...signed, query: noSig }, lookup, opts()), /lacks X-Amz-Signature/);
    const sha512 = signed.query.replace('X-Amz-Algorithm=AWS4-HMAC-SHA256', 'X-Amz-Algorithm=AWS4-HMAC-SHA512');
    await rejects(verifySigV4({ ...signed, query: sha512 }, lookup, opts()), /unsupported signing algorithm/);
    await rejects(verifySigV4({ ...signed, query: `${signed.query}&X-Amz-Date=20250304T050607Z` }, lookup, opts()), /repeated/);
  });

  it('rejects a presigned URL that also has an Authorization header', async () => {
    const signed = received(await presign(r, 3600), EMPTY_SHA256);
    const headers = { ...signed.headers, authorization: 'AWS4-HMAC-SHA256 x' };
    await rejects(verifySigV4({ ...signed, headers }, lookup, opts()), /not both/);
  });
});

describe('verifySigV4: keys and secrecy', () => {
  it('does not mix up cached signing keys of two secrets on the same day', async () => {
    const two: Record<string, string> = { AK1: 'secret-one', AK2: 'secret-two' };
    const lk: SecretLookup = async (id) => two[id] ?? null;
    const r = outgoing({ path: '/v1/x' });
    const as = async (accessKeyId: string, secret: string) => received(await sign(r, { accessKeyId, secret }), EMPTY_SHA256);
    await expect(verifySigV4(await as('AK1', 'secret-one'), lk, opts())).resolves.toMatchObject({ accessKeyId: 'AK1' });
    await expect(verifySigV4(await as('AK2', 'secret-two'), lk, opts())).resolves.toMatchObject({ accessKeyId: 'AK2' });
    await rejects(verifySigV4(await as('AK2', 'secret-one'), lk, opts()), /signature does not match/);
    await rejects(verifySigV4(await as('AK1', 'secret-two'), lk, opts()), /signature does not match/);
    await expect(verifySigV4(await as('AK1', 'secret-one'), lk, opts())).resolves.toMatchObject({ accessKeyId: 'AK1' });
  });

  it('picks up a rotated secret for the same access key', async () => {
    let secret = 'old-secret';
    const lk: SecretLookup = async () => secret;
    const r = outgoing({ path: '/v1/x' });
    const oldReq = received(await sign(r, { secret: 'old-secret' }), EMPTY_SHA256);
    await expect(verifySigV4(oldReq, lk, opts())).resolves.toBeDefined();
    secret = 'new-secret';
    await rejects(verifySigV4(oldReq, lk, opts()), /signature does not match/);
    await expect(verifySigV4(received(await sign(r, { secret: 'new-secret' }), EMPTY_SHA256), lk, opts())).resolves.toBeDefined();
  });

  it('never puts the secret or a signature into an error message', () => {
    expect(messages.length).toBeGreaterThan(30);
    for (const m of messages) {
      expect(m).not.toContain(SECRET);
      expect(m).not.toMatch(/[0-9a-f]{64}/i);
    }
  });
});

describe('verifySigV4BeforeBody: deciding before the body is read', () => {
  const head = (r: SigV4Request, hasBody: boolean, bufferable: boolean) => ({ method: r.method, path: r.path, query: r.query, headers: r.headers, hasBody, bufferable });

  it('checks a request without a body against the empty payload', async () => {
    const signed = received(await sign(outgoing({ path: '/v1/bucket/listAll' })));
    const result = await verifySigV4BeforeBody(head(signed, false, false), lookup, opts());
    expect(result.identity).toMatchObject({ accessKeyId: AK, payloadHashPending: false });
  });

  it('checks a signed x-amz-content-sha256 now and leaves the hash pending for the body reader', async () => {
    const body = '{"name":"b"}';
    const signed = received(await sign(outgoing({ method: 'POST', path: '/v1/bucket/create', body })));
    const result = await verifySigV4BeforeBody(head(signed, true, true), lookup, opts());
    expect(result.identity).toMatchObject({ payloadHash: sha256Hex(body), payloadHashPending: true });
  });

  it('completes a signature over the body hash (curl style) with the body, and refuses another body', async () => {
    const body = '{"name":"b"}';
    const signed = received(await sign(outgoing({ method: 'POST', path: '/v1/bucket/create', body }), { applyChecksum: false }));
    const result = await verifySigV4BeforeBody(head(signed, true, true), lookup, opts());
    expect(result.identity).toBeUndefined();
    expect(result.completeWithBody!(sha256Hex(body))).toMatchObject({ accessKeyId: AK, payloadHashPending: false });
    expect(() => result.completeWithBody!(sha256Hex('{"name":"c"}'))).toThrow(/signature does not match/);
  });

  it('refuses before the body: an unknown key, a stale date, a streamed body signed without the header', async () => {
    const body = '{"name":"b"}';
    const unknown = received(await sign(outgoing({ method: 'POST', path: '/v1/bucket/create', body }), { applyChecksum: false, accessKeyId: 'AKIDNOPE' }));
    await rejects(verifySigV4BeforeBody(head(unknown, true, true), lookup, opts()), /invalid access key/);
    const stale = received(await sign(outgoing({ method: 'POST', path: '/v1/bucket/create', body }), { applyChecksum: false }));
    await rejects(verifySigV4BeforeBody(head(stale, true, true), lookup, opts({ now: new Date(T0.getTime() + 60 * MIN) })), /more than 15 min/);
    await rejects(verifySigV4BeforeBody(head(stale, true, false), lookup, opts()), /streamed request must send x-amz-content-sha256/);
  });
});
