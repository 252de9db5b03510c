import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  UploadPartCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import fc from 'fast-check';
import { createCipheriv, createHash } from 'node:crypto';
import { dropGatewayData } from './support/gateway-process.js';
import { launchS3Gateway, s3Client, type S3GatewayInstance } from './support/s3-gateway.js';

/**
 * Load on the S3 listener: CLIENTS S3 clients for S3_LOAD_SECONDS on a few shared keys at once —
 * PutObject (overwrites), multipart uploads, CopyObject, GetObject (full and ranged), HeadObject,
 * DeleteObject, ListObjectsV2 — while the worker's collector runs every second at grace 0.
 * Checks: no 5xx ever; every read is byte-exact ONE version that was written (bodies are
 * self-describing: a header naming the version, then keystream bytes keyed by it); at the end every
 * key is absent or one written version, byte-exact. Operation choices come from a fixed seed.
 */
const SECONDS = Number(process.env.S3_LOAD_SECONDS ?? 20);
const CLIENTS = 24;
const KEYS = ['a/0', 'a/1', 'a/2', 'b/0', 'b/1', 'b/2'];
const MAGIC = Buffer.from('JCSS3LD1');
const MiB = 1024 * 1024;
const BUCKET = 'load';

function versionBytes(id: string, size: number): Buffer {
  const key = createHash('sha256').update(id).digest().subarray(0, 16);
  const body = createCipheriv('aes-128-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(size));
  Buffer.concat([MAGIC, Buffer.from(id.padEnd(24, '.'))]).copy(body, 0, 0, Math.min(size, 32));
  return body;
}

type Op = 'put' | 'multipart' | 'copy' | 'get' | 'range' | 'head' | 'delete' | 'list';

describe('s3 load: many clients on the same keys with GC running', () => {
  let gw: S3GatewayInstance;
  let client: S3Client;

  beforeAll(async () => {
    gw = await launchS3Gateway({
      args: ['--with-worker'],
      env: { JCS_GC_GRACE_SECONDS: '0', JCS_GC_READ_GRACE_SECONDS: '10', JCS_GC_INTERVAL_SECONDS: '1' },
    });
    client = s3Client(gw.s3Endpoint, gw.admin.creds);
    await client.send(new CreateBucketCommand({ Bucket: BUCKET }));
  }, 90_000);

  afterAll(async () => {
    client?.destroy();
    if (gw?.alive()) await gw.kill('SIGTERM');
    if (gw) await dropGatewayData(gw.dbName, gw.dataDir);
  });

  it(`${CLIENTS} clients for ${SECONDS} s: no 5xx, every read one whole version`, async () => {
    const versions = new Map<string, number>(); // id → size
    const problems: string[] = [];
    const counts: Record<string, number> = {};
    let seq = 0;
    const ops = fc.sample(fc.tuple(fc.constantFrom<Op>('put', 'put', 'put', 'multipart', 'copy', 'get', 'get', 'range', 'head', 'delete', 'list'), fc.integer({ min: 0, max: KEYS.length - 1 }), fc.integer({ min: 0, max: 200_000 })), { numRuns: 5000, seed: 7331 });
    const end = Date.now() + SECONDS * 1000;

    /** Checks a (possibly ranged) body against the version its header, or the full body, names. */
    const checkBody = (key: string, body: Buffer, range?: [number, number], id?: string) => {
      const named = id ?? body.subarray(8, 32).toString().replace(/\.+$/, '');
      const size = versions.get(named);
      // A version shorter than the magic (sizes 0–7 are written too) is checked by its bytes alone.
      if (size === undefined || (!range && size >= MAGIC.length && !body.subarray(0, 8).equals(MAGIC))) return problems.push(`${key}: a body of no written version (${body.length} bytes)`);
      const expected = versionBytes(named, size);
      const want = range ? expected.subarray(range[0], range[1] + 1) : expected;
      if (!want.equals(body)) problems.push(`${key}: ${range ? 'range' : 'body'} differs from version ${named} (got ${body.length} bytes naming ${body.subarray(8, 32).toString().replace(/\.+$/, '')})`);
    };

    const worker = async (w: number) => {
      const c = s3Client(gw.s3Endpoint, gw.admin.creds);
      let i = w * 97;
      while (Date.now() < end) {
        const [op, k, n] = ops[i++ % ops.length];
        const key = KEYS[k];
        counts[op] = (counts[op] ?? 0) + 1;
        try {
          switch (op) {
            case 'put': {
              const id = `v${seq++}`;
              const size = n % 3 === 0 ? n * 5 : n % 4096;
              versions.set(id, size);
              await c.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: versionBytes(id, size), Metadata: { version: id } }));
              break;
            }
            case 'multipart': {
              const id = `m${seq++}`;
              const size = 5 * MiB + (n % 70_000) + 1;
              versions.set(id, size);
              const body = versionBytes(id, size);
              const { UploadId } = await c.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: key, Metadata: { version: id } }));
              const p1 = await c.send(new UploadPartCommand({ Bucket: BUCKET, Key: key, UploadId, PartNumber: 1, Body: body.subarray(0, 5 * MiB) }));
              const p2 = await c.send(new UploadPartCommand({ Bucket: BUCKET, Key: key, UploadId, PartNumber: 2, Body: body.subarray(5 * MiB) }));
              await c.send(new CompleteMultipartUploadCommand({ Bucket: BUCKET, Key: key, UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: p1.ETag }, { PartNumber: 2, ETag: p2.ETag }] } }));
              break;
            }
            case 'copy':
              await c.send(new CopyObjectCommand({ Bucket: BUCKET, Key: KEYS[(k + 3) % KEYS.length], CopySource: `${BUCKET}/${key}` }));
              break;
            case 'get': {
              const got = await c.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
              checkBody(key, Buffer.from(await got.Body!.transformToByteArray()), undefined, got.Metadata?.version);
              break;
            }
            case 'range': {
              const got = await c.send(new GetObjectCommand({ Bucket: BUCKET, Key: key, Range: 'bytes=0-99' }));
              const body = Buffer.from(await got.Body!.transformToByteArray());
              const id = got.Metadata?.version;
              const size = id === undefined ? undefined : versions.get(id);
              if (size === undefined) problems.push(`${key}: a ranged read of no written version`);
              else checkBody(key, body, [0, Math.min(99, size - 1)], id);
              break;
            }
            case 'head':
              await c.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }));
              break;
            case 'delete':
              await c.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: key }));
              break;
            case 'list':
              await c.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: key.slice(0, 2) }));
              break;
          }
        } catch (e) {
          const err = e as { name?: string; $metadata?: { httpStatusCode?: number }; message?: string };
          const status = err.$metadata?.httpStatusCode ?? 0;
          // Missing keys and ranges past a just-replaced smaller object are answers, not failures.
          const expected = ['NoSuchKey', 'NotFound', 'InvalidRange', 'NoSuchUpload'].includes(err.name ?? '');
          if (!expected) problems.push(`${op} ${key}: ${err.name} ${status} ${err.message?.slice(0, 200)}`);
        }
      }
      c.destroy();
    };
    await Promise.all(Array.from({ length: CLIENTS }, (_, w) => worker(w)));

    // The final state: each key absent or one written version, byte-exact.
    for (const key of KEYS) {
      try {
        const got = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
        checkBody(key, Buffer.from(await got.Body!.transformToByteArray()), undefined, got.Metadata?.version);
      } catch (e) {
        if ((e as { name?: string }).name !== 'NoSuchKey') problems.push(`final ${key}: ${(e as Error).message}`);
      }
    }
    // On failure, what the gateway itself said at warn and above helps (the answers alone rarely do).
    const gatewaySaid = problems.length ? gw.output().split('\n').filter((l) => /"level":(40|50|60)/.test(l)).slice(-10) : [];
    expect({ problems: problems.slice(0, 20), gatewaySaid, alive: gw.alive(), counts: (counts.put ?? 0) > 20 && (counts.get ?? 0) > 10 ? 'enough' : counts }).toEqual({
      problems: [],
      gatewaySaid: [],
      alive: true,
      counts: 'enough',
    });
  }, 180_000);
});
