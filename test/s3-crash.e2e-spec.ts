import { afterAll, describe, expect, it } from '@jest/globals';
import {
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  UploadPartCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import fc from 'fast-check';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { dropGatewayData } from './support/gateway-process.js';
import { launchS3Gateway, s3Client, type S3GatewayInstance } from './support/s3-gateway.js';

/**
 * SIGKILL of the gateway process while S3 clients are in the middle of PutObject and multipart uploads
 * (its own process, restarted on the same database and data folder). After every restart: every
 * PutObject and CompleteMultipartUpload answered 200 reads back byte-exact; a write cut by the kill is
 * either absent or whole (never a prefix); a multipart upload that was not completed stays invisible;
 * the listing holds only keys that were written, with their sizes. Kill moments come from a fixed seed.
 */
const KILLS = Number(process.env.S3_CRASH_KILLS ?? 3);
const SEED = Number(process.env.S3_CRASH_SEED ?? 424242);
const PUT_WRITERS = 6;
const MULTIPART_WRITERS = 2;
const MiB = 1024 * 1024;
const BUCKET = 'crash';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

interface Write {
  sha: string;
  size: number;
  /** 'acked': answered 200; 'cut': the kill came first (may or may not be committed). */
  state: 'pending' | 'acked' | 'cut';
  kind: 'put' | 'multipart';
}

describe('s3 crash: SIGKILL during S3 PUTs and multipart uploads', () => {
  let root: string | undefined;
  let gw: S3GatewayInstance | undefined;
  let dbName: string | undefined;

  afterAll(async () => {
    if (gw?.alive()) await gw.kill('SIGKILL');
    if (dbName && root) await dropGatewayData(dbName, path.join(root, 'data'));
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it(`keeps every answered S3 write and nothing half-written across ${KILLS} kills`, async () => {
    root = mkdtempSync(path.join(tmpdir(), 'jcs-s3-crash-'));
    const dataDir = path.join(root, 'data');
    mkdirSync(dataDir);
    gw = await launchS3Gateway({ dataDir });
    dbName = gw.dbName;
    const keys = gw.admin.creds;
    let client: S3Client = s3Client(gw.s3Endpoint, keys);
    await client.send(new CreateBucketCommand({ Bucket: BUCKET }));
    const writes = new Map<string, Write>();
    const delays = fc.sample(fc.integer({ min: 3000, max: 8000 }), { numRuns: KILLS, seed: SEED });
    const violations: string[] = [];
    let n = 0;

    for (let round = 0; round < KILLS; round++) {
      let killed = false;
      const roundClient = client;
      const putWriter = async (w: number) => {
        while (!killed) {
          const key = `put/r${round}/w${w}/${n++}`;
          const body = randomBytes(1 + Math.floor(Math.random() * MiB));
          const rec: Write = { sha: sha(body), size: body.length, state: 'pending', kind: 'put' };
          writes.set(key, rec);
          try {
            await roundClient.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));
            rec.state = 'acked';
          } catch (e) {
            rec.state = 'cut';
            if (!killed) violations.push(`PutObject ${key} failed before the kill: ${(e as Error).message}`);
          }
        }
      };
      const multipartWriter = async (w: number) => {
        while (!killed) {
          const key = `mp/r${round}/w${w}/${n++}`;
          const parts = [randomBytes(5 * MiB), randomBytes(1 + Math.floor(Math.random() * MiB))];
          const whole = Buffer.concat(parts);
          const rec: Write = { sha: sha(whole), size: whole.length, state: 'pending', kind: 'multipart' };
          writes.set(key, rec);
          try {
            const { UploadId } = await roundClient.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: key }));
            const etags: string[] = [];
            for (const [i, p] of parts.entries()) etags.push((await roundClient.send(new UploadPartCommand({ Bucket: BUCKET, Key: key, UploadId, PartNumber: i + 1, Body: p }))).ETag!);
            await roundClient.send(
              new CompleteMultipartUploadCommand({ Bucket: BUCKET, Key: key, UploadId, MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) } }),
            );
            rec.state = 'acked';
          } catch (e) {
            rec.state = 'cut';
            if (!killed) violations.push(`multipart ${key} failed before the kill: ${(e as Error).message}`);
          }
        }
      };
      const running = [...Array.from({ length: PUT_WRITERS }, (_, w) => putWriter(w)), ...Array.from({ length: MULTIPART_WRITERS }, (_, w) => multipartWriter(w))];
      await new Promise((r) => setTimeout(r, delays[round]));
      killed = true;
      await gw.kill('SIGKILL');
      await Promise.all(running);
      roundClient.destroy();

      gw = await launchS3Gateway({ dbName, dataDir });
      client = s3Client(gw.s3Endpoint, keys);
      violations.push(...(await verify(client, writes, `after kill ${round + 1}`)));
    }
    client.destroy();
    const acked = [...writes.values()].filter((w) => w.state === 'acked');
    expect({ violations: violations.slice(0, 20), someAckedPuts: acked.some((w) => w.kind === 'put') }).toEqual({ violations: [], someAckedPuts: true });
  }, 600_000);
});

async function verify(client: S3Client, writes: Map<string, Write>, when: string): Promise<string[]> {
  const out: string[] = [];
  const listed = new Map<string, number>();
  let token: string | undefined;
  do {
    const page = await client.send(new ListObjectsV2Command({ Bucket: BUCKET, ContinuationToken: token }));
    for (const o of page.Contents ?? []) listed.set(o.Key!, o.Size!);
    token = page.NextContinuationToken;
  } while (token);
  for (const [key, size] of listed) {
    const w = writes.get(key);
    if (!w) out.push(`${when}: listed ${key} was never written`);
    else if (w.size !== size) out.push(`${when}: listed ${key} with ${size} bytes, written ${w.size}`);
  }
  for (const [key, w] of writes) {
    if (w.state === 'pending') out.push(`${when}: ${key} still pending`);
    const visible = listed.has(key);
    if (w.state === 'acked' && !visible) out.push(`${when}: acked ${w.kind} ${key} is not listed`);
    if (!visible && w.state === 'cut') {
      // Not listed: it must not be readable either (nothing half-visible).
      try {
        await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
        out.push(`${when}: cut ${key} is readable but not listed`);
      } catch (e) {
        if ((e as { name?: string }).name !== 'NoSuchKey') out.push(`${when}: GET of cut ${key}: ${(e as Error).message}`);
      }
      continue;
    }
    if (!visible) continue;
    const got = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
    const body = Buffer.from(await got.Body!.transformToByteArray());
    if (sha(body) !== w.sha) out.push(`${when}: ${w.state} ${w.kind} ${key} reads back ${body.length} bytes that differ from the ${w.size} written`);
  }
  return out;
}
