import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash, createHmac } from 'node:crypto';
import { request } from 'node:http';
import zlib from 'node:zlib';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { SignatureV4 } from '@aws-sdk/signature-v4';
import { Sha256 } from '@aws-crypto/sha256-js';
import { startTestGateway, type Tenant, type TestGateway } from './support/gateway.js';
import { s3ClientFor } from './support/s3-client.js';
import { download, uploadFiles } from './support/objects.js';

const sha256hex = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** Sends a raw HTTP request (a body as given, no framing added) and reads the answer. */
function raw(url: string, method: string, path: string, headers: Record<string, string>, body?: Buffer): Promise<{ status: number; text: string }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, method, path, headers }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode!, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Signing of S3 requests by hand, for the streaming forms the SDK would not let a test tamper with. */
async function signS3(t: Tenant, gw: TestGateway, method: string, path: string, headers: Record<string, string>, date = new Date()) {
  const u = new URL(gw.s3Url);
  const signer = new SignatureV4({ service: 's3', region: 'us-east-1', credentials: { accessKeyId: t.accessKey, secretAccessKey: t.secretKey }, sha256: Sha256, uriEscapePath: false });
  const signed = await signer.sign({ method, protocol: 'http:', hostname: u.hostname, port: Number(u.port), path, headers: { host: u.host, ...headers } }, { signingDate: date });
  return signed.headers as Record<string, string>;
}

function signingKey(secret: string, date: string) {
  const h = (k: string | Buffer, d: string) => createHmac('sha256', k).update(d).digest();
  return h(h(h(h(`AWS4${secret}`, date), 'us-east-1'), 's3'), 'aws4_request');
}

/** An aws-chunked body with chained chunk signatures (STREAMING-AWS4-HMAC-SHA256-PAYLOAD). */
function chunkedBody(key: Buffer, amzDate: string, seed: string, chunks: Buffer[], tamper?: number): Buffer {
  const scope = `${amzDate.slice(0, 8)}/us-east-1/s3/aws4_request`;
  let prev = seed;
  const out: Buffer[] = [];
  for (const c of [...chunks, Buffer.alloc(0)]) {
    const sts = ['AWS4-HMAC-SHA256-PAYLOAD', amzDate, scope, prev, sha256hex(''), sha256hex(c)].join('\n');
    const sig = createHmac('sha256', key).update(sts).digest('hex');
    prev = sig;
    const data = Buffer.from(c);
    if (tamper !== undefined && out.length === tamper * 3 && data.length) data[0] ^= 1;
    out.push(Buffer.from(`${c.length.toString(16)};chunk-signature=${sig}\r\n`), data, Buffer.from('\r\n'));
  }
  return Buffer.concat(out);
}

describe('S3 endpoint: authentication, streaming payloads, presigned URLs, isolation, /v1 visibility', () => {
  let gw: TestGateway;
  let a: Tenant;
  let b: Tenant;

  beforeAll(async () => {
    gw = await startTestGateway();
    a = await gw.tenant('alice');
    b = await gw.tenant('bob');
    await s3ClientFor(gw, a).send(new CreateBucketCommand({ Bucket: 'auth' }));
  });
  afterAll(async () => gw?.stop());

  async function s3Fails(p: Promise<unknown>): Promise<{ name: string; status: number }> {
    try {
      await p;
    } catch (e) {
      const x = e as S3ServiceException;
      return { name: x.name, status: x.$metadata.httpStatusCode! };
    }
    throw new Error('expected the request to fail');
  }

  it('refuses a wrong secret, an unknown key, a skewed clock and a missing signature with S3 codes', async () => {
    const wrong = s3ClientFor(gw, { accessKey: a.accessKey, secretKey: 'not-the-secret' });
    expect(await s3Fails(wrong.send(new ListBucketsCommand({})))).toEqual({ name: 'SignatureDoesNotMatch', status: 403 });
    const unknown = s3ClientFor(gw, { accessKey: 'JCSNOSUCHKEY00000000', secretKey: 'x' });
    expect(await s3Fails(unknown.send(new ListBucketsCommand({})))).toEqual({ name: 'InvalidAccessKeyId', status: 403 });
    const skewed = s3ClientFor(gw, a, { systemClockOffset: -20 * 60 * 1000 });
    // The SDK corrects its clock from the answer and retries once when allowed: maxAttempts 1 shows the first answer.
    expect(await s3Fails(skewed.send(new ListBucketsCommand({})))).toEqual({ name: 'RequestTimeTooSkewed', status: 403 });
    const anon = await fetch(`${gw.s3Url}/`);
    expect(anon.status).toBe(403);
    expect(await anon.text()).toContain('<Code>AccessDenied</Code>');
    // Any region in the scope is accepted.
    await s3ClientFor(gw, a, { region: 'eu-central-9' }).send(new ListBucketsCommand({}));
  });

  it('serves presigned GET and PUT, and refuses an expired or altered URL', async () => {
    const s3 = s3ClientFor(gw, a);
    const putUrl = await getSignedUrl(s3, new PutObjectCommand({ Bucket: 'auth', Key: 'presigned.txt' }), { expiresIn: 300 });
    const put = await fetch(putUrl, { method: 'PUT', body: 'presigned body' });
    expect(put.status).toBe(200);
    const getUrl = await getSignedUrl(s3, new GetObjectCommand({ Bucket: 'auth', Key: 'presigned.txt' }), { expiresIn: 300 });
    const got = await fetch(getUrl);
    expect(got.status).toBe(200);
    expect(await got.text()).toBe('presigned body');
    const altered = await fetch(getUrl.replace('presigned.txt', 'presigned.tx2'));
    expect(altered.status).toBe(403);
    expect(await altered.text()).toContain('SignatureDoesNotMatch');
    const old = await getSignedUrl(s3, new GetObjectCommand({ Bucket: 'auth', Key: 'presigned.txt' }), { expiresIn: 60, signingDate: new Date(Date.now() - 3600_000) });
    const expired = await fetch(old);
    expect(expired.status).toBe(403);
    expect(await expired.text()).toContain('<Code>AccessDenied</Code>');
    const tooLong = await getSignedUrl(s3, new GetObjectCommand({ Bucket: 'auth', Key: 'presigned.txt' }), { expiresIn: 8 * 24 * 3600 }).catch(() => null);
    if (tooLong) expect((await fetch(tooLong)).status).toBe(403);
  });

  it('verifies a signed payload hash while streaming: a mismatch commits nothing', async () => {
    const body = Buffer.from('the real body');
    const headers = await signS3(a, gw, 'PUT', '/auth/signed-payload', { 'x-amz-content-sha256': sha256hex('another body'), 'content-length': String(body.length) });
    const res = await raw(gw.s3Url, 'PUT', '/auth/signed-payload', headers, body);
    expect(res.status).toBe(400);
    expect(res.text).toContain('XAmzContentSHA256Mismatch');
    const ok = await signS3(a, gw, 'PUT', '/auth/signed-payload', { 'x-amz-content-sha256': sha256hex(body), 'content-length': String(body.length) });
    expect((await raw(gw.s3Url, 'PUT', '/auth/signed-payload', ok, body)).status).toBe(200);
  });

  it('accepts STREAMING-AWS4-HMAC-SHA256-PAYLOAD with every chunk signature checked; a tampered chunk is refused and not committed', async () => {
    const chunks = [Buffer.alloc(70000, 'a'), Buffer.alloc(70000, 'b'), Buffer.from('tail')];
    const decoded = chunks.reduce((n, c) => n + c.length, 0);
    for (const [key, tamper] of [['streamed-ok', undefined], ['streamed-bad', 1]] as const) {
      const date = new Date();
      const headers = await signS3(a, gw, 'PUT', `/auth/${key}`, {
        'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
        'content-encoding': 'aws-chunked',
        'x-amz-decoded-content-length': String(decoded),
      }, date);
      const seed = /Signature=([0-9a-f]{64})/.exec(headers.authorization!)![1]!;
      const amzDate = headers['x-amz-date']!;
      const body = chunkedBody(signingKey(a.secretKey, amzDate.slice(0, 8)), amzDate, seed, chunks, tamper);
      const res = await raw(gw.s3Url, 'PUT', `/auth/${key}`, { ...headers, 'content-length': String(body.length) }, body);
      if (tamper === undefined) {
        expect(res.status).toBe(200);
        const got = await s3ClientFor(gw, a).send(new GetObjectCommand({ Bucket: 'auth', Key: key }));
        expect(Buffer.from(await got.Body!.transformToByteArray()).equals(Buffer.concat(chunks))).toBe(true);
      } else {
        expect(res.status).toBe(403);
        expect(res.text).toContain('SignatureDoesNotMatch');
        expect(await s3Fails(s3ClientFor(gw, a).send(new HeadObjectCommand({ Bucket: 'auth', Key: key })))).toMatchObject({ status: 404 });
      }
    }
  });

  it('checks x-amz-checksum trailers of STREAMING-UNSIGNED-PAYLOAD-TRAILER and checksum headers of plain PUTs', async () => {
    const data = Buffer.from('trailer checked data');
    const crc = (b: Buffer) => {
      const x = Buffer.alloc(4);
      x.writeUInt32BE(zlib.crc32(b));
      return x.toString('base64');
    };
    for (const [key, value, status] of [['trailer-ok', crc(data), 200], ['trailer-bad', crc(Buffer.from('other')), 400]] as const) {
      const body = Buffer.from(`${data.length.toString(16)}\r\n${data}\r\n0\r\nx-amz-checksum-crc32:${value}\r\n\r\n`);
      const headers = await signS3(a, gw, 'PUT', `/auth/${key}`, {
        'x-amz-content-sha256': 'STREAMING-UNSIGNED-PAYLOAD-TRAILER',
        'content-encoding': 'aws-chunked',
        'x-amz-decoded-content-length': String(data.length),
        'x-amz-trailer': 'x-amz-checksum-crc32',
      });
      const res = await raw(gw.s3Url, 'PUT', `/auth/${key}`, { ...headers, 'content-length': String(body.length) }, body);
      expect(res.status).toBe(status);
      if (status === 400) expect(res.text).toContain('BadDigest');
    }
    const s3 = s3ClientFor(gw, a);
    expect((await s3.send(new HeadObjectCommand({ Bucket: 'auth', Key: 'trailer-ok' }))).ContentLength).toBe(data.length);
    expect(await s3Fails(s3.send(new HeadObjectCommand({ Bucket: 'auth', Key: 'trailer-bad' })))).toMatchObject({ status: 404 });
    // The SDK's own checksums (CRC32 by default), as a header on a plain PUT.
    await s3.send(new PutObjectCommand({ Bucket: 'auth', Key: 'sdk-crc32c', Body: data, ChecksumAlgorithm: 'CRC32C' }));
    await s3.send(new PutObjectCommand({ Bucket: 'auth', Key: 'sdk-sha1', Body: data, ChecksumAlgorithm: 'SHA1' }));
    const bad = await signS3(a, gw, 'PUT', '/auth/hdr-bad', { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', 'x-amz-checksum-sha256': createHash('sha256').update('x').digest('base64'), 'content-length': String(data.length) });
    const res = await raw(gw.s3Url, 'PUT', '/auth/hdr-bad', bad, data);
    expect(res.status).toBe(400);
    expect(res.text).toContain('BadDigest');
  });

  it("isolates tenants: bob sees none of alice's buckets and changes nothing", async () => {
    const sa = s3ClientFor(gw, a);
    const sb = s3ClientFor(gw, b);
    await sa.send(new PutObjectCommand({ Bucket: 'auth', Key: 'private', Body: 'alice only' }));
    expect((await sb.send(new ListBucketsCommand({}))).Buckets ?? []).toEqual([]);
    expect(await s3Fails(sb.send(new GetObjectCommand({ Bucket: 'auth', Key: 'private' })))).toMatchObject({ name: 'NoSuchBucket', status: 404 });
    expect(await s3Fails(sb.send(new PutObjectCommand({ Bucket: 'auth', Key: 'private', Body: 'bob' })))).toMatchObject({ name: 'NoSuchBucket' });
    expect(await s3Fails(sb.send(new DeleteObjectCommand({ Bucket: 'auth', Key: 'private' })))).toMatchObject({ name: 'NoSuchBucket' });
    expect(await s3Fails(sb.send(new ListObjectsV2Command({ Bucket: 'auth' })))).toMatchObject({ name: 'NoSuchBucket' });
    expect(await s3Fails(sb.send(new DeleteBucketCommand({ Bucket: 'auth' })))).toMatchObject({ name: 'NoSuchBucket' });
    // Bucket names are per tenant: bob may have an 'auth' bucket of his own.
    await sb.send(new CreateBucketCommand({ Bucket: 'auth' }));
    expect((await sb.send(new ListObjectsV2Command({ Bucket: 'auth' }))).KeyCount).toBe(0);
    const still = await sa.send(new GetObjectCommand({ Bucket: 'auth', Key: 'private' }));
    expect(await still.Body!.transformToString()).toBe('alice only');
  });

  it('shows S3 writes through /v1 and /v1 writes through S3', async () => {
    const s3 = s3ClientFor(gw, a);
    await s3.send(new CreateBucketCommand({ Bucket: 'photos' }));
    await s3.send(new PutObjectCommand({ Bucket: 'photos', Key: '2024/a.jpg', Body: 'jpeg bytes' }));
    const pkg = (await a.client.get('/v1/package/getByFullName', { bucketName: 's3', packageName: 'photos' })).body.data.package;
    const listed = (await a.client.get('/v1/object/listByPath', { packageID: pkg.packageID, path: '2024/a.jpg' })).body.data.objects;
    expect(listed.map((o: { path: string }) => o.path)).toEqual(['2024/a.jpg']);
    const viaV1 = await download(a, { packageID: pkg.packageID, path: '2024/a.jpg' }, {}, 'downloadByPath');
    expect(viaV1.bytes.toString()).toBe('jpeg bytes');
    await uploadFiles(a, pkg.packageID, [['from-v1.txt', Buffer.from('v1 bytes')]]);
    const got = await s3.send(new GetObjectCommand({ Bucket: 'photos', Key: 'from-v1.txt' }));
    expect(await got.Body!.transformToString()).toBe('v1 bytes');
    // No MD5 for a /v1 write: the ETag is its SHA-256 (64 hex).
    expect(got.ETag).toBe(`"${sha256hex('v1 bytes')}"`);
    // A /v1 overwrite of an S3 object drops the S3 metadata of the old version.
    await s3.send(new PutObjectCommand({ Bucket: 'photos', Key: 'from-v1.txt', Body: 's3 bytes', ContentType: 'text/s3' }));
    await uploadFiles(a, pkg.packageID, [['from-v1.txt', Buffer.from('v1 again')]]);
    const again = await s3.send(new HeadObjectCommand({ Bucket: 'photos', Key: 'from-v1.txt' }));
    expect(again.ETag).toBe(`"${sha256hex('v1 again')}"`);
    expect(again.ContentType).toBe('binary/octet-stream');
    // A package created through /v1 in the home bucket is an S3 bucket.
    const home = (await a.client.get('/v1/bucket/getByName', { name: 's3' })).body.data.bucket;
    await a.client.post('/v1/package/create', { bucketID: home.bucketID, name: 'made-by-v1' });
    await a.client.post('/v1/package/create', { bucketID: home.bucketID, name: 'Not_S3' });
    const names = (await s3.send(new ListBucketsCommand({}))).Buckets!.map((x) => x.Name);
    expect(names).toContain('made-by-v1');
    expect(names).not.toContain('Not_S3');
  });

  it('addresses buckets virtual-host style when JCS_S3_DOMAIN is set', async () => {
    const vgw = await startTestGateway({ JCS_S3_DOMAIN: 's3.test' });
    try {
      const t = await vgw.tenant('vh');
      await s3ClientFor(vgw, t).send(new CreateBucketCommand({ Bucket: 'vhost' }));
      await s3ClientFor(vgw, t).send(new PutObjectCommand({ Bucket: 'vhost', Key: 'k/v', Body: 'virtual' }));
      const port = new URL(vgw.s3Url).port;
      const headers = await signS3(t, { s3Url: `http://vhost.s3.test:${port}` } as TestGateway, 'GET', '/k/v', { 'x-amz-content-sha256': sha256hex('') });
      const res = await raw(vgw.s3Url, 'GET', '/k/v', headers);
      expect(res).toEqual({ status: 200, text: 'virtual' });
    } finally {
      await vgw.stop();
    }
  });
});
