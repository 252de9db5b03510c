import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import busboy from 'busboy';
import { createHash } from 'node:crypto';
import type http from 'node:http';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { PART_SIZE, QUEUE_SIZE, s3Client } from './s3-client.js';

/**
 * The S3 relay routes of the baseline server (loaded on first use, so the other figures' baseline
 * process stays as it was): the least a Node server in front of S3 must do to offer the gateway's
 * S3-space upload and download, to tell the cost of any extra hop on these 2 cores from the gateway's
 * own. Not the issue's baseline (that is the SDK used directly, no hop).
 *
 *   POST /s3relay?endpoint&bucket&key   multipart/form-data (the gateway's very body) parsed with
 *                                       busboy, the file part SHA-256 hashed on the way (content
 *                                       addressing needs it) and sent with lib-storage Upload (the
 *                                       driver's part size and queue); no temp key, no copy
 *   GET  /s3relay?endpoint&bucket&key   GetObject piped to the response
 */
const MiB = 1024 * 1024;
const clients = new Map<string, S3Client>();
const clientFor = (endpoint: string) => clients.get(endpoint) ?? clients.set(endpoint, s3Client(endpoint)).get(endpoint)!;

function target(q: URLSearchParams) {
  const endpoint = q.get('endpoint');
  const bucket = q.get('bucket');
  const key = q.get('key');
  if (!endpoint || !bucket || !key) throw new Error('endpoint, bucket and key are required');
  return { s3: clientFor(endpoint), bucket, key };
}

function sendJson(res: http.ServerResponse, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

async function upload(s3: S3Client, bucket: string, key: string, file: Readable) {
  const hash = createHash('sha256');
  let bytes = 0;
  const tap = new Transform({
    highWaterMark: MiB,
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      bytes += chunk.length;
      done(null, chunk);
    },
  });
  const sent = new Upload({ client: s3, params: { Bucket: bucket, Key: key, Body: tap }, partSize: PART_SIZE, queueSize: QUEUE_SIZE, leavePartsOnError: false }).done();
  await Promise.all([pipeline(file, tap), sent]);
  return { bytes, sha256: hash.digest('hex') };
}

export async function relayUpload(req: http.IncomingMessage, res: http.ServerResponse, q: URLSearchParams): Promise<void> {
  const { s3, bucket, key } = target(q);
  let result: Promise<{ bytes: number; sha256: string }> | undefined;
  await new Promise<void>((resolve, reject) => {
    const bb = busboy({ headers: req.headers, fileHwm: MiB, limits: { files: 1 } });
    bb.on('file', (_field, stream) => {
      result = upload(s3, bucket, key, stream);
      result.catch(reject);
    });
    bb.on('close', resolve);
    bb.on('error', reject);
    req.pipe(bb);
  });
  if (!result) throw new Error('no file part');
  sendJson(res, await result);
}

export async function relayDownload(res: http.ServerResponse, q: URLSearchParams): Promise<void> {
  const { s3, bucket, key } = target(q);
  const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  res.writeHead(200, { 'content-length': String(got.ContentLength), 'content-type': 'application/octet-stream' });
  await pipeline(got.Body as Readable, res);
}
