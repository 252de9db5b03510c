import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import fc from 'fast-check';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { dropGatewayData } from './support/gateway-process.js';
import { sendRaw, type RawOutcome, type RawRequest } from './support/raw-signed-http.js';
import { launchS3Gateway, s3Client, type S3GatewayInstance } from './support/s3-gateway.js';

/**
 * Seeded fuzz of the S3 listener of the real gateway process, over raw TCP so every byte is the
 * test's: wrong methods, garbage and deeply nested XML, entity-expansion bombs, NUL and odd charsets
 * in keys and headers, truncated and garbage bodies, unsigned, expired, badly signed and wrongly keyed
 * requests, broken aws-chunked framing. S3_FUZZ_SEED replays a run, S3_FUZZ_REQUESTS sets the volume.
 *
 * Invariants: every answer comes (no hang) and is a clean S3 error — XML `<Error><Code>` with a 4xx
 * status (501 only as NotImplemented) — or a success of a correctly signed request; never a 5xx,
 * never a stack trace; a request not correctly signed never succeeds; afterwards the process is
 * alive and every object stored before the fuzz reads back byte-exact.
 */
const SEED = Number(process.env.S3_FUZZ_SEED ?? 20261202);
const REQUESTS = Number(process.env.S3_FUZZ_REQUESTS ?? 800);
const BATCH = 8;
const STACK = /\n\s*at\s|\bat [\w$.<>]+ \(|[\w/.-]+\.(ts|js):\d+/;
const REGION = 'us-east-1';

const sha256Hex = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const hmac = (k: Buffer | string, s: string) => createHmac('sha256', k).update(s).digest();
const amzDateOf = (d: Date) => d.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');

type Auth = 'valid' | 'none' | 'badSignature' | 'skewed' | 'unknownKey' | 'garbageHeader' | 'expiredPresign' | 'streamingBroken';
type BodyKind = 'none' | 'garbage' | 'garbageXml' | 'deepXml' | 'entityBomb' | 'deleteXml' | 'truncated';

interface Case {
  method: string;
  bucket: string;
  key: string | null;
  sub: string;
  auth: Auth;
  body: BodyKind;
  oddHeader: [string, Buffer] | null;
}

/** Keys as sent on the wire: percent-encoded bytes (NUL, invalid UTF-8, `%2F`), plain ASCII, long. */
const wireKey = fc.oneof(
  fc.constantFrom('fz/plain.txt', 'fz/a%00b', 'fz/%FF%FE', 'fz/%C3%28', 'fz/%2F%2F', 'fz/dir/', 'fz/%ED%A0%80', 'fz/a+b%20c', 'fz/..%2F..%2Fetc', 'fz/%25%25'),
  fc.uint8Array({ minLength: 1, maxLength: 40 }).map((b) => 'fz/' + [...b].map((c) => '%' + c.toString(16).padStart(2, '0').toUpperCase()).join('')),
  fc.integer({ min: 1000, max: 1100 }).map((n) => 'fz/' + 'k'.repeat(n)),
);

const fuzzCase = (buckets: string[]) =>
  fc.record<Case>({
    method: fc.constantFrom('GET', 'HEAD', 'PUT', 'POST', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE', 'PROPFIND', 'FOO'),
    bucket: fc.oneof(fc.constantFrom(...buckets), fc.constantFrom('', 'UPPER', 'a', 'x'.repeat(70), 'bad_name', '%00', 'xn--%FF')),
    key: fc.option(wireKey, { nil: null }),
    sub: fc.constantFrom('', '?delete', '?uploads', '?uploadId=nope&partNumber=1', '?uploadId=nope', '?list-type=2&max-keys=-1', '?list-type=2&continuation-token=%FF%00', '?acl', '?policy', '?location', '?versioning', '?tagging', '?max-keys=abc&marker=%00', '?encoding-type=bogus&prefix=%FF'),
    auth: fc.constantFrom<Auth>('valid', 'valid', 'none', 'badSignature', 'skewed', 'unknownKey', 'garbageHeader', 'expiredPresign', 'streamingBroken'),
    body: fc.constantFrom<BodyKind>('none', 'garbage', 'garbageXml', 'deepXml', 'entityBomb', 'deleteXml', 'truncated'),
    oddHeader: fc.option(
      fc.tuple(fc.constantFrom('x-amz-meta-odd', 'content-type', 'content-md5', 'range', 'if-match', 'x-amz-copy-source', 'cache-control'), fc.uint8Array({ minLength: 0, maxLength: 60 }).map((b) => Buffer.from([...b].map((c) => (c === 10 || c === 13 ? 32 : c))))),
      { nil: null },
    ),
  });

function bodyOf(kind: BodyKind): { bytes: Buffer; declared?: number } {
  switch (kind) {
    case 'none':
      return { bytes: Buffer.alloc(0) };
    case 'garbage':
      return { bytes: randomBytes(300) };
    case 'garbageXml':
      return { bytes: Buffer.from('<?xml version="1.0"?><Delete><Object><Key>fz/x</Key></Object><Object><Key>unterminated') };
    case 'deepXml':
      return { bytes: Buffer.from('<Delete>' + '<Object>'.repeat(20000) + '</Object>'.repeat(20000) + '</Delete>') };
    case 'entityBomb': {
      const ents = ['<!ENTITY a0 "fz/boom">'];
      for (let i = 1; i <= 10; i++) ents.push(`<!ENTITY a${i} "${`&a${i - 1};`.repeat(10)}">`);
      return {
        bytes: Buffer.from(`<?xml version="1.0"?><!DOCTYPE Delete [${ents.join('')}<!ENTITY ext SYSTEM "file:///etc/passwd">]><Delete><Object><Key>&a10;</Key></Object><Object><Key>&ext;</Key></Object></Delete>`),
      };
    }
    case 'deleteXml':
      return { bytes: Buffer.from('<Delete><Quiet>true</Quiet><Object><Key>fz/plain.txt</Key></Object><Object><Key>fz/\u0000nul</Key></Object></Delete>') };
    case 'truncated':
      return { bytes: randomBytes(100), declared: 5000 };
  }
}

/** SigV4 header signing of exactly the bytes sent (target already canonical), service s3. */
function sign(keys: { accessKey: string; secretKey: string }, req: { method: string; target: string; host: string; contentSha256: string; date: Date; extra?: Array<[string, string]> }) {
  const amzDate = amzDateOf(req.date);
  const day = amzDate.slice(0, 8);
  const q = req.target.indexOf('?');
  const p = q < 0 ? req.target : req.target.slice(0, q);
  const query = (q < 0 ? '' : req.target.slice(q + 1))
    .split('&')
    .filter(Boolean)
    .map((kv) => (kv.includes('=') ? kv : kv + '='))
    .sort()
    .join('&');
  const headers = ([['host', req.host], ['x-amz-content-sha256', req.contentSha256], ['x-amz-date', amzDate], ...(req.extra ?? [])] as Array<[string, string]>).sort(([a], [b]) => (a < b ? -1 : 1));
  const signedHeaders = headers.map(([k]) => k).join(';');
  const canonical = [req.method, p || '/', query, headers.map(([k, v]) => `${k}:${v}\n`).join(''), signedHeaders, req.contentSha256].join('\n');
  const scope = `${day}/${REGION}/s3/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256Hex(canonical)].join('\n');
  const key = hmac(hmac(hmac(hmac('AWS4' + keys.secretKey, day), REGION), 's3'), 'aws4_request');
  const signature = createHmac('sha256', key).update(toSign).digest('hex');
  return {
    headers: [...headers, ['authorization', `AWS4-HMAC-SHA256 Credential=${keys.accessKey}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`]] as Array<[string, string]>,
    signature,
  };
}

describe('s3 fuzz: hostile requests on the S3 listener', () => {
  let gw: S3GatewayInstance;
  let keys: { accessKey: string; secretKey: string };
  let client: S3Client;
  const kept = new Map<string, Buffer>();

  beforeAll(async () => {
    gw = await launchS3Gateway();
    keys = gw.admin.creds;
    client = s3Client(gw.s3Endpoint, keys);
    await client.send(new CreateBucketCommand({ Bucket: 'keep-b' }));
    await client.send(new CreateBucketCommand({ Bucket: 'fuzz-b' }));
    await client.send(new PutObjectCommand({ Bucket: 'fuzz-b', Key: 'fz/plain.txt', Body: 'fuzz me' }));
    for (const [i, key] of ['keep/one.bin', 'keep/dir/two.bin', 'keep/ü nïcode +%.txt', 'keep/empty'].entries()) {
      const body = randomBytes(i === 3 ? 0 : 1000 + i * 7777);
      await client.send(new PutObjectCommand({ Bucket: 'keep-b', Key: key, Body: body }));
      kept.set(key, body);
    }
  }, 90_000);

  afterAll(async () => {
    client?.destroy();
    if (gw?.alive()) await gw.kill('SIGTERM');
    if (gw) await dropGatewayData(gw.dbName, gw.dataDir);
  });

  function requestOf(c: Case): { req: RawRequest; correctlySigned: boolean; httpMalformed: boolean } {
    const host = `127.0.0.1:${gw.s3Port}`;
    const target = '/' + c.bucket + (c.key !== null ? '/' + c.key : '') + c.sub;
    const { bytes, declared } = bodyOf(c.body);
    const extra: Array<[string, string | Buffer]> = [];
    if (bytes.length || declared) extra.push(['content-length', String(declared ?? bytes.length)]);
    if (c.oddHeader) extra.push(c.oddHeader);
    const date = new Date();
    let auth: Array<[string, string]> = [];
    let finalTarget = target;
    let correctlySigned = false;
    switch (c.auth) {
      case 'valid':
      case 'badSignature':
      case 'unknownKey':
      case 'skewed': {
        const k = c.auth === 'unknownKey' ? { accessKey: 'AKIDFUZZNOSUCHKEY000', secretKey: keys.secretKey } : keys;
        const s = sign(k, { method: c.method, target, host, contentSha256: 'UNSIGNED-PAYLOAD', date: c.auth === 'skewed' ? new Date(date.getTime() - 3600_000) : date });
        auth = s.headers;
        if (c.auth === 'badSignature') auth = auth.map(([h, v]) => [h, h === 'authorization' ? v.replace(/Signature=[0-9a-f]{64}/, `Signature=${randomBytes(32).toString('hex')}`) : v]);
        correctlySigned = c.auth === 'valid';
        break;
      }
      case 'none':
        auth = [['host', host]];
        break;
      case 'garbageHeader':
        auth = [['host', host], ['authorization', 'AWS4-HMAC-SHA256 Credential=%00/../, SignedHeaders=, Signature=zz']];
        break;
      case 'expiredPresign': {
        const when = amzDateOf(new Date(date.getTime() - 7200_000));
        const cred = encodeURIComponent(`${keys.accessKey}/${when.slice(0, 8)}/${REGION}/s3/aws4_request`);
        finalTarget += (target.includes('?') ? '&' : '?') + `X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=${cred}&X-Amz-Date=${when}&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=${'0'.repeat(64)}`;
        auth = [['host', host]];
        break;
      }
      case 'streamingBroken': {
        const s = sign(keys, { method: c.method, target, host, contentSha256: 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD', date, extra: [['x-amz-decoded-content-length', '64']] });
        auth = [...s.headers, ['content-encoding', 'aws-chunked']];
        // Chunk framing that lies: a size that is not hex, a bad chunk signature, no final chunk.
        const framing = Buffer.from(`zz;chunk-signature=${'f'.repeat(64)}\r\n${'x'.repeat(64)}\r\n40;chunk-signature=bad\r\n`);
        return {
          req: { method: c.method, target: finalTarget, headers: [...auth, ['content-length', String(framing.length)]], body: framing, after: 'wait' },
          correctlySigned: false,
          httpMalformed: false,
        };
      }
    }
    const httpMalformed = c.method === 'FOO' || c.method === 'PROPFIND' || (c.oddHeader !== null && c.oddHeader[1].some((b) => (b < 32 && b !== 9) || b === 127));
        // A FIN before the answer means the client is gone (the gateway's policy): only a body cut short ends early.
    return { req: { method: c.method, target: finalTarget, headers: [...auth, ...extra], body: bytes, after: c.body === 'truncated' ? 'end' : 'wait' }, correctlySigned, httpMalformed };
  }

  function violationOf(c: Case, r: { correctlySigned: boolean; httpMalformed: boolean }, out: RawOutcome): string | null {
    if (out.kind === 'noResponse') {
      if (out.reason === 'timeout') return 'no answer within 15 s (hang)';
      // A body cut short (declared longer than sent) may end the exchange without an answer.
      return c.body === 'truncated' ? null : `no answer: ${out.reason}`;
    }
    const { status, headers, body } = out.res;
    const text = body.toString('utf8');
    if (STACK.test(text)) return `stack trace in the answer: ${text.slice(0, 200)}`;
    if (status >= 500 && !(status === 501 && (c.method === 'HEAD' || /<Code>NotImplemented<\/Code>/.test(text)))) return `HTTP ${status}: ${text.slice(0, 300)}`;
    // A CORS preflight may be answered without credentials, as long as it carries no data.
    if (status < 400 && c.method === 'OPTIONS' && body.length === 0) return null;
    if (status < 400) return r.correctlySigned ? null : `HTTP ${status} for a request that is not correctly signed (${c.auth})`;
    if (c.method === 'HEAD') return null;
    if (!/^\s*(<\?xml[^>]*>\s*)?<Error>[\s\S]*<Code>\w+<\/Code>/.test(text)) return `HTTP ${status} without an S3 XML error: ${text.slice(0, 200)}`;
    if (!/xml/.test(headers['content-type'] ?? '')) return `HTTP ${status} error with content-type ${headers['content-type']}`;
    return null;
  }

  it(`${REQUESTS} seeded requests (seed ${SEED}) answer clean S3 errors, never a 5xx or a hang`, async () => {
    const buckets = ['keep-b', 'fuzz-b', 'no-such-bucket'];
    const cases = fc.sample(fuzzCase(buckets), { numRuns: REQUESTS, seed: SEED });
    const violations: string[] = [];
    for (let i = 0; i < cases.length; i += BATCH) {
      await Promise.all(
        cases.slice(i, i + BATCH).map(async (c) => {
          // A correctly signed request writes only in fuzz-b; keep-b is for requests that must fail.
          if (c.auth === 'valid' && c.bucket === 'keep-b') c.bucket = 'fuzz-b';
          const r = requestOf(c);
          const out = await sendRaw(gw.s3Port, r.req, 15_000);
          const v = violationOf(c, r, out);
          if (v) violations.push(`${v}\n    ${c.method} ${r.req.target.slice(0, 160)} auth=${c.auth} body=${c.body} header=${c.oddHeader?.[0] ?? '-'}`);
        }),
      );
      if (!gw.alive()) {
        violations.push(`the process died after request ${i + BATCH}:\n${gw.output().slice(-2000)}`);
        break;
      }
    }
    expect(violations.slice(0, 15)).toEqual([]);
  }, 600_000);

  it('afterwards the process is alive and every object stored before reads back byte-exact', async () => {
    expect(gw.alive()).toBe(true);
    for (const [key, body] of kept) {
      const got = await client.send(new GetObjectCommand({ Bucket: 'keep-b', Key: key }));
      expect(Buffer.from(await got.Body!.transformToByteArray()).equals(body)).toBe(true);
    }
    const listed = await client.send(new ListObjectsV2Command({ Bucket: 'keep-b' }));
    expect((listed.Contents ?? []).map((o) => o.Key).sort()).toEqual([...kept.keys()].sort());
    expect(gw.output()).not.toMatch(/"level":60|FATAL|Unhandled|uncaught/i);
  }, 60_000);
});
