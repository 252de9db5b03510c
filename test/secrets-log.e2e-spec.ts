import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { BASE_DATABASE_URL, dropDatabase } from './support/gateway.js';
import { startGatewayProcess, type GatewayProcess } from './support/gateway-process.js';
import { SignedClient, type RequestSpec } from './support/signed-client.js';
import { multipartBody } from './support/multipart.js';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';

const CLI = path.resolve(import.meta.dirname, '../apps/cli/src/main.js');
const GATEWAY = path.resolve(import.meta.dirname, '../apps/gateway/src/main.js');
const unique = (label: string) => `${label}${randomBytes(12).toString('hex')}`;

/** A loopback port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

/**
 * Runs a whole scenario against the real gateway process at LOG_LEVEL=debug, then searches every line
 * it wrote for every secret the scenario used: the tenant's secret key, every signature sent (header,
 * presigned, forged), an S3 secret access key, the database and Redis passwords, the master key.
 */
describe('secrets never reach the logs', () => {
  const dbPassword = unique('DbPw');
  const redisPassword = unique('RedisPw');
  const masterKey = randomBytes(32).toString('base64');
  const s3Secret = unique('S3Secret');
  const wrongS3Secret = unique('S3Wrong');
  let gp: GatewayProcess;
  let client: SignedClient;
  let secretKey: string;
  const signatures: string[] = [];

  beforeAll(async () => {
    gp = await startGatewayProcess(
      { LOG_LEVEL: 'debug', JCS_MASTER_KEY: masterKey, REDIS_URL: `redis://:${redisPassword}@127.0.0.1:6379` },
      { databasePassword: dbPassword },
    );
    // A tenant made by the CLI (whose output is not the gateway's log): the admin's keys are printed
    // once on first start by design, so they are not what this test looks for.
    const { stdout } = await promisify(execFile)(process.execPath, [CLI, 'user', 'create', '--name', 'secretive'], {
      env: { ...process.env, DATABASE_URL: gp.databaseUrl, JCS_DATA_DIR: gp.dataDir, JCS_MASTER_KEY: masterKey, LOG_LEVEL: 'silent' },
    });
    const tenant = JSON.parse(stdout.trim().split('\n').pop()!);
    secretKey = tenant.secretKey;
    client = new SignedClient(gp.url, { accessKey: tenant.accessKey, secretKey });
  }, 90_000);
  afterAll(async () => gp?.stop());

  /** Sends a header-signed request and remembers its signature. */
  async function send(spec: RequestSpec, forge = false) {
    const { url, init } = await client.signedRequest(spec);
    const headers = init.headers as Record<string, string>;
    if (forge) headers.authorization = headers.authorization.replace(/Signature=[0-9a-f]{64}/, `Signature=${randomBytes(32).toString('hex')}`);
    signatures.push(/Signature=([0-9a-f]{64})/.exec(headers.authorization)![1]);
    const res = await fetch(url, init);
    const text = await res.text();
    return { status: res.status, text, json: () => JSON.parse(text) };
  }
  const postJson = (p: string, body: unknown) =>
    send({ method: 'POST', path: p, body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });

  it('runs the scenario', async () => {
    const bucket = (await postJson('/v1/bucket/create', { name: 'hush' })).json().data.bucket;
    const pkg = (await postJson('/v1/package/create', { bucketID: bucket.bucketID, name: 'p' })).json().data.package;
    const { body, contentType } = multipartBody([
      { name: 'info', value: JSON.stringify({ packageID: pkg.packageID }) },
      { name: 'files', filename: 'a%2Fb.txt', data: Buffer.from('quiet bytes') },
    ]);
    const up = await send({ method: 'POST', path: '/v1/object/upload', body, headers: { 'content-type': contentType }, unsignedPayload: true });
    expect(up.status).toBe(200);
    const objectID = up.json().data.uploadeds[0].objectID;

    // A presigned download, a tampered presigned URL, a forged header signature.
    const presigned = await client.presign('/v1/object/download', { objectID }, 300);
    signatures.push(new URL(presigned).searchParams.get('X-Amz-Signature')!);
    expect(await (await fetch(presigned)).text()).toBe('quiet bytes');
    const tampered = presigned.replace(/X-Amz-Signature=[0-9a-f]+/, `X-Amz-Signature=${randomBytes(32).toString('hex')}`);
    signatures.push(new URL(tampered).searchParams.get('X-Amz-Signature')!);
    expect((await fetch(tampered)).status).toBe(401);
    expect((await send({ path: '/v1/bucket/listAll' }, true)).status).toBe(401);

    // A user space holding an S3 secret, and a probe with a wrong secret against a closed port.
    const port = await closedPort();
    const storage = { type: 'S3', region: 'us-east-1', endpoint: `http://127.0.0.1:${port}`, bucket: 'b', forcePathStyle: true };
    const created = await postJson('/v1/userSpace/create', { name: 's3', storage, credential: { type: 'S3', accessKeyId: 'AKS3', secretAccessKey: s3Secret } });
    expect(created.json().code).toBe('OK');
    const probe = await postJson('/v1/userSpace/test', { storage, credential: { type: 'S3', accessKeyId: 'AKS3', secretAccessKey: wrongS3Secret } });
    expect(probe.json().code).toBe('OperationFailed');

    // Errors of other kinds.
    expect((await send({ path: '/v1/bucket/getByName', query: { name: 'missing' } })).status).toBe(404);
    expect((await postJson('/v1/bucket/create', { name: 12 })).status).toBe(400);
    expect((await fetch(`${gp.url}/v1/bucket/listAll`, { headers: { authorization: `AWS4-HMAC-SHA256 Credential=x, Signature=${secretKey}` } })).status).toBe(401);
  }, 90_000);

  it('runs an S3 scenario on the S3 listener', async () => {
    // Every signature the SDK sends is remembered (the request as it leaves, after signing).
    const s3 = (secret: string) => {
      const c = new S3Client({ endpoint: gp.s3Url, region: 'us-east-1', forcePathStyle: true, maxAttempts: 1, credentials: { accessKeyId: client.creds.accessKey, secretAccessKey: secret } });
      c.middlewareStack.add(
        (next) => async (args) => {
          const auth = (args.request as { headers?: Record<string, string> }).headers?.authorization;
          const sig = auth && /Signature=([0-9a-f]{64})/.exec(auth)?.[1];
          if (sig) signatures.push(sig);
          return next(args);
        },
        { step: 'deserialize', name: 'rememberSignature' },
      );
      return c;
    };
    const good = s3(secretKey);
    await good.send(new CreateBucketCommand({ Bucket: 'hush-s3' }));
    await good.send(new PutObjectCommand({ Bucket: 'hush-s3', Key: 'quiet.txt', Body: 'quiet s3 bytes', Metadata: { note: 'x' } }));
    const got = await good.send(new GetObjectCommand({ Bucket: 'hush-s3', Key: 'quiet.txt' }));
    expect(await got.Body!.transformToString()).toBe('quiet s3 bytes');
    await good.send(new ListObjectsV2Command({ Bucket: 'hush-s3' }));
    // A presigned GET, a tampered one, a request signed with a wrong secret.
    const url = await getSignedUrl(good, new GetObjectCommand({ Bucket: 'hush-s3', Key: 'quiet.txt' }), { expiresIn: 300 });
    signatures.push(new URL(url).searchParams.get('X-Amz-Signature')!);
    expect(await (await fetch(url)).text()).toBe('quiet s3 bytes');
    const tampered = url.replace(/X-Amz-Signature=[0-9a-f]+/, `X-Amz-Signature=${randomBytes(32).toString('hex')}`);
    signatures.push(new URL(tampered).searchParams.get('X-Amz-Signature')!);
    expect((await fetch(tampered)).status).toBe(403);
    const bad = s3(wrongS3Secret);
    await expect(bad.send(new ListObjectsV2Command({ Bucket: 'hush-s3' }))).rejects.toMatchObject({ name: 'SignatureDoesNotMatch' });
    good.destroy();
    bad.destroy();
  }, 90_000);

  it('no line the gateway wrote holds any of those secrets', async () => {
    await gp.stop();
    const logs = gp.logs();
    // The capture works and the requests were logged (presigned URL included, its signature masked).
    expect(logs).toContain('/v1/object/download');
    expect(logs).toMatch(/X-Amz-Signature=\*\*\*/);
    expect(logs).toContain('/v1/userSpace/test');
    expect(logs).toContain('/hush-s3/quiet.txt');
    const secrets = { secretKey, s3Secret, wrongS3Secret, dbPassword, redisPassword, masterKey, ...Object.fromEntries(signatures.map((s, i) => [`signature ${i}`, s])) };
    expect(signatures.length).toBeGreaterThanOrEqual(14);
    const leaks = Object.entries(secrets)
      .filter(([, secret]) => logs.includes(secret))
      .map(([name]) => `${name}: ${logs.split('\n').find((l) => l.includes(secrets[name as keyof typeof secrets]))?.slice(0, 300)}`);
    expect(leaks).toEqual([]);
    gp = undefined as never; // already stopped
  }, 60_000);

  it('a start-up failure names the Redis URL with its password masked', async () => {
    const dbName = `jcs_test_secret_${randomBytes(4).toString('hex')}`;
    const dataDir = mkdtempSync(path.join(tmpdir(), 'jcs-secret-'));
    const db = Object.assign(new URL(BASE_DATABASE_URL), { pathname: '/' + dbName, password: dbPassword });
    const port = await closedPort();
    const child = spawn(process.execPath, [GATEWAY], {
      env: { ...process.env, DATABASE_URL: db.toString(), REDIS_URL: `redis://:${redisPassword}@127.0.0.1:${port}`, JCS_DATA_DIR: dataDir, LOG_LEVEL: 'debug', JCS_MASTER_KEY: masterKey },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (out += d));
    const code = await new Promise((r) => child.once('exit', r));
    try {
      expect(code).toBe(1);
      expect(out).toContain(`redis://:***@127.0.0.1:${port}`);
      for (const secret of [redisPassword, dbPassword, masterKey]) expect(out).not.toContain(secret);
    } finally {
      await dropDatabase(dbName);
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 60_000);
});
