import busboy from 'busboy';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, rename, stat, type FileHandle } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';

/**
 * The baseline every gateway figure is divided by: the least a Node HTTP server must do to offer the
 * same operation with the same durability, run as its own process like the gateway so both pay the
 * same process and loopback costs and share the same 2 cores with the same client.
 *
 *   POST /raw?name=N           request body → one file (the 1 GiB upload baseline; the body is the
 *                              very multipart body sent to the gateway, written unparsed)
 *   POST /multipart?dir=D      multipart/form-data parsed with busboy (as the gateway does), each file
 *                              part → its own file, one part at a time (as the gateway does)
 *        (both: &sha256=1 also hashes the bytes with SHA-256 on the way, as content addressing needs)
 *   GET  /file?path=P          a file, with `Range: bytes=a-b` (206), read with 1 MiB chunks
 *   GET  /list?userID&packageID&prefix&limit
 *                              one keyset SQL page of `objects`, rows sent as JSON
 *   POST /put?name=N           request body → its own new file, ONE fsync, nothing else (no temp
 *                              file, no rename, no folder fsync, no metadata): the 4 KiB upload
 *                              baseline of issue 8
 *   GET  /sql/buckets?userID   the one SELECT bucket/listAll needs (the tenant's buckets), as JSON
 *   GET  /sql/object?userID&packageID&path
 *                              the one SELECT an exact listByPath needs (the object row with its
 *                              blocks), as JSON
 *   POST|GET /s3relay?...      a minimal relay in front of S3 (see s3-relay.ts)
 *   GET  /healthz
 *
 * Every write uses the gateway's Local driver policy: temp file in the target folder, written through a
 * 1 MiB-buffered stream that fsyncs before closing, renamed into place, then the folder fsynced.
 * No authentication: the signed headers the bench client sends are ignored.
 *
 * Env: PORT, BASELINE_DIR (where files go), DATABASE_URL (for /list).
 */
const ROOT = path.resolve(process.env.BASELINE_DIR ?? '.');
const MiB = 1024 * 1024;
// As many connections as the gateway's pool (libs/db data-source), so 16 requests in flight queue alike.
const db = process.env.DATABASE_URL ? new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 20 }) : undefined;

async function durableWrite(dir: string, name: string, body: Readable, sha256 = false): Promise<number> {
  const tmp = path.join(dir, `.tmp-${randomBytes(12).toString('hex')}`);
  const fh: FileHandle = await open(tmp, 'wx', 0o644);
  const file = fh.createWriteStream({ flush: true, highWaterMark: MiB });
  if (sha256) {
    // The content addressing the gateway needs (its fileHash is the SHA-256 of the bytes), done
    // the simplest way: on the main thread, chunk by chunk, as the bytes pass.
    const hash = createHash('sha256');
    const tap = new Transform({
      transform(chunk: Buffer, _enc, done) {
        hash.update(chunk);
        done(null, chunk);
      },
    });
    await pipeline(body, tap, file);
    hash.digest();
  } else await pipeline(body, file);
  await rename(tmp, path.join(dir, name));
  await fsyncDir(dir);
  return file.bytesWritten;
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

const safeName = (s: string) => s.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 200) || 'unnamed';

function sendJson(res: http.ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

async function rawUpload(req: http.IncomingMessage, res: http.ServerResponse, q: URLSearchParams) {
  const size = await durableWrite(ROOT, safeName(q.get('name') ?? 'raw.bin'), req, q.get('sha256') === '1');
  sendJson(res, 200, { size });
}

async function multipartUpload(req: http.IncomingMessage, res: http.ServerResponse, q: URLSearchParams) {
  const dir = path.join(ROOT, safeName(q.get('dir') ?? 'multipart'));
  await mkdir(dir, { recursive: true });
  let files = 0;
  let bytes = 0;
  let chain: Promise<unknown> = Promise.resolve();
  let failure: unknown;
  await new Promise<void>((resolve, reject) => {
    const bb = busboy({ headers: req.headers, preservePath: true, fileHwm: MiB, limits: { files: 100_000 } });
    bb.on('file', (_field, stream, meta) => {
      chain = chain.then(async () => {
        if (failure) return void stream.resume();
        try {
          bytes += await durableWrite(dir, safeName(decodeURIComponent(meta.filename ?? 'file')), stream, q.get('sha256') === '1');
          files++;
        } catch (e) {
          failure ??= e;
          stream.resume();
        }
      });
    });
    bb.on('close', () => chain.then(() => (failure ? reject(failure) : resolve())));
    bb.on('error', reject);
    req.pipe(bb);
  });
  sendJson(res, 200, { files, bytes });
}

async function sendFile(req: http.IncomingMessage, res: http.ServerResponse, q: URLSearchParams) {
  const file = q.get('path') ?? '';
  const size = (await stat(file)).size;
  const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
  let start = 0;
  let end = size - 1;
  if (m) {
    start = Number(m[1]);
    end = m[2] ? Math.min(Number(m[2]), size - 1) : size - 1;
    if (start >= size) {
      res.writeHead(416, { 'content-range': `bytes */${size}` });
      return void res.end();
    }
    res.writeHead(206, { 'content-length': end - start + 1, 'content-range': `bytes ${start}-${end}/${size}`, 'content-type': 'application/octet-stream' });
  } else {
    res.writeHead(200, { 'content-length': size, 'content-type': 'application/octet-stream', 'accept-ranges': 'bytes' });
  }
  await pipeline(createReadStream(file, { start, end, highWaterMark: MiB }), res);
}

async function list(res: http.ServerResponse, q: URLSearchParams) {
  if (!db) throw new Error('DATABASE_URL is not set');
  const { rows } = await db.query(
    'SELECT * FROM objects WHERE user_id = $1 AND package_id = $2 AND path >= $3 ORDER BY path LIMIT $4',
    [q.get('userID'), q.get('packageID'), q.get('prefix') ?? '', Number(q.get('limit') ?? 1000)],
  );
  sendJson(res, 200, { objects: rows });
}

/** The least a durable one-object upload needs: the bytes in a new file, fsynced once. */
async function putFile(req: http.IncomingMessage, res: http.ServerResponse, q: URLSearchParams) {
  const dir = path.join(ROOT, 'put');
  await mkdir(dir, { recursive: true });
  const fh = await open(path.join(dir, safeName(q.get('name') ?? 'put.bin')), 'wx', 0o644);
  let size = 0;
  try {
    for await (const chunk of req as AsyncIterable<Buffer>) {
      await fh.write(chunk);
      size += chunk.length;
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
  sendJson(res, 200, { code: 'OK', message: '', data: { size } });
}

const BUCKETS_SQL = 'SELECT bucket_id AS "bucketID", name, create_time AS "createTime" FROM buckets WHERE user_id = $1 ORDER BY bucket_id';

/** The object of one exact path, the tenant's only, with its blocks aggregated in the same statement. */
const OBJECT_SQL = `SELECT o.object_id AS "objectID", o.package_id AS "packageID", o.path, o.size::text AS size, o.file_hash AS "fileHash",
         o.redundancy, o.create_time AS "createTime", o.update_time AS "updateTime",
         COALESCE((SELECT json_agg(json_build_object('index', b.index, 'userSpaceID', b.user_space_id, 'fileHash', b.file_hash, 'size', b.size) ORDER BY b.index, b.user_space_id)
                   FROM object_blocks b WHERE b.object_id = o.object_id), '[]') AS blocks
    FROM objects o WHERE o.user_id = $1 AND o.package_id = $2 AND o.path = $3`;

async function sqlBuckets(res: http.ServerResponse, q: URLSearchParams) {
  if (!db) throw new Error('DATABASE_URL is not set');
  const { rows } = await db.query(BUCKETS_SQL, [q.get('userID')]);
  sendJson(res, 200, { code: 'OK', message: '', data: { buckets: rows } });
}

async function sqlObject(res: http.ServerResponse, q: URLSearchParams) {
  if (!db) throw new Error('DATABASE_URL is not set');
  const { rows } = await db.query(OBJECT_SQL, [q.get('userID'), q.get('packageID'), q.get('path') ?? '']);
  sendJson(res, 200, { code: 'OK', message: '', data: { objects: rows, commonPrefixes: [], isTruncated: false } });
}

/** Loaded on first use: the S3 SDK would otherwise weigh on every other figure's baseline process. */
let relay: Promise<typeof import('./s3-relay.js')> | undefined;
const s3relay = () => (relay ??= import('./s3-relay.js'));

type Handler = (req: http.IncomingMessage, res: http.ServerResponse, q: URLSearchParams) => Promise<unknown>;
const ROUTES: Record<string, Handler> = {
  'POST /raw': rawUpload,
  'POST /multipart': multipartUpload,
  'POST /put': putFile,
  'GET /file': sendFile,
  'GET /list': (_req, res, q) => list(res, q),
  'GET /sql/buckets': (_req, res, q) => sqlBuckets(res, q),
  'GET /sql/object': (_req, res, q) => sqlObject(res, q),
  'POST /s3relay': (req, res, q) => s3relay().then((r) => r.relayUpload(req, res, q)),
  'GET /s3relay': (_req, res, q) => s3relay().then((r) => r.relayDownload(res, q)),
  'GET /healthz': async (_req, res) => sendJson(res, 200, { status: 'up' }),
};

const server = http.createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://x');
  const q = url.searchParams;
  const route = ROUTES[`${req.method} ${url.pathname}`];
  const work = route ? route(req, res, q) : Promise.resolve(sendJson(res, 404, { error: `${req.method} ${url.pathname}` }));
  work.catch((e: Error) => {
    if (res.headersSent) res.destroy();
    else sendJson(res, 500, { error: e.message });
    req.resume();
  });
});
server.keepAliveTimeout = 60_000;
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const addr = server.address();
  process.stderr.write(`baseline listening on ${typeof addr === 'object' && addr ? addr.port : addr}\n`);
});
const stop = () => {
  server.close();
  server.closeAllConnections();
  void (db ? db.end() : Promise.resolve()).finally(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
