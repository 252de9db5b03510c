import { afterAll, describe, expect, it } from '@jest/globals';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { databaseUrlOf, dropGatewayData, launchGatewayProcess, type GatewayInstance } from './support/gateway-process.js';
import { multipartBody, type FormPart } from './support/multipart.js';
import { compositeHashOf } from './support/objects-extra.js';
import type { SignedClient } from './support/signed-client.js';

/**
 * SIGKILL the gateway process at seeded random moments while clients upload (single files and
 * batches), overwrite the same paths and run multipart uploads; restart it on the same database and
 * data folder each time. After every restart: each write answered OK reads back byte-exact (or was
 * superseded by a later write of the same path), a write cut by the kill is either wholly there or
 * wholly absent (batches too), and nothing half-written is listed. At the end, with GC at grace 0:
 * no orphan shard and no temp file left. CRASH_SEED replays the kill times and the writes'
 * choices; CRASH_KILLS sets the number of kills (default 20).
 */

const SEED = process.env.CRASH_SEED ? Number(process.env.CRASH_SEED) : randomBytes(4).readUInt32BE(0) >>> 1;
const KILLS = Number(process.env.CRASH_KILLS ?? 20);
const WORKERS = 3;
const PATHS_PER_WORKER = 4;
/** Let the storage side expire a dead instance's temp folder quickly (ignored by gateways without it). */
const BASE_ENV = { JCS_INSTANCE_TTL_SECONDS: '2' };

/** A small seeded PRNG (mulberry32): the same seed gives the same kill times and the same writes. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { next, int: (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1)), pick: <T>(xs: T[]) => xs[Math.floor(next() * xs.length)] };
}
type Rng = ReturnType<typeof prng>;

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const fullHash = (b: Buffer) => 'Full' + sha256(b).toUpperCase();

/** Unique content per write (its label first), so a read tells exactly which write it came from. */
function content(label: string, rng: Rng): Buffer {
  const size = rng.next() < 0.2 ? rng.int(512 * 1024, 3 * 1024 * 1024) : rng.int(0, 64 * 1024);
  const head = Buffer.from(`${label}|`);
  const body = Buffer.alloc(size);
  let x = rng.int(1, 0x7fffffff);
  for (let i = 0; i + 4 <= size; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    body.writeInt32LE(x | 0, i);
  }
  return Buffer.concat([head, body]);
}

/** One path written by plain uploads: the last answered version, and writes cut by a kill (maybe committed). */
interface PlainPath {
  committed: Buffer | null;
  pending: Array<{ data: Buffer; batch: number }>;
}

/** A multipart upload as the client knows it. */
interface Multipart {
  path: string;
  /** 'maybe': newMultipartUpload was cut by a kill. */
  created: 'yes' | 'maybe';
  objectID?: number;
  parts: Map<number, { committed?: Buffer; pending?: Buffer }>;
  /** The joined bytes of a completion that was answered ('yes') or cut ('maybe'). */
  completion?: { state: 'yes' | 'maybe'; joined: Buffer };
  /** Its completed bytes were read back once (later checks compare the listing only, until a full check). */
  verified?: boolean;
}

class Killed extends Error {}

describe('crash: SIGKILL during uploads, multipart uploads and overwrites', () => {
  let root: string | undefined;
  let dbName: string | undefined;
  let gw: GatewayInstance | undefined;

  afterAll(async () => {
    if (gw?.alive()) await gw.kill('SIGKILL');
    if (dbName && root) await dropGatewayData(dbName, path.join(root, 'data'));
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it(`keeps every answered write and nothing half-written across ${KILLS} kills, and GC leaves no orphan`, async () => {
    console.log(`crash seed ${SEED} (replay: CRASH_SEED=${SEED}), ${KILLS} kills`);
    const master = prng(SEED);
    root = mkdtempSync(path.join(tmpdir(), 'jcs-crash-'));
    const dataDir = path.join(root, 'data');
    mkdirSync(dataDir);
    dbName = `jcs_test_crash_${randomBytes(4).toString('hex')}`;
    gw = await launchGatewayProcess({ dbName, dataDir, env: BASE_ENV });
    const creds = gw.admin.creds;
    const client = () => gw!.admin as SignedClient;

    const bucket = (await client().post('/v1/bucket/create', { name: 'crash' })).body.data.bucket;
    const packageID: number = (await client().post('/v1/package/create', { bucketID: bucket.bucketID, name: 'pkg' })).body.data.package.packageID;

    const plain = new Map<string, PlainPath>();
    for (let w = 0; w < WORKERS; w++) for (let j = 0; j < PATHS_PER_WORKER; j++) plain.set(`w${w}/p${j}`, { committed: null, pending: [] });
    const multiparts = new Map<string, Multipart>();
    const violations: string[] = [];
    let batchSeq = 0;
    let writesAnswered = 0;
    let writesCut = 0;
    let mpuSeq = 0;
    let readsBack = 0;

    /** Sends one request; a connection cut by the kill becomes Killed, any answer is returned. */
    async function call(spec: () => Promise<{ status: number; body: any }>) {
      try {
        return await spec();
      } catch (e) {
        // Not `instanceof Error`: fetch's errors come from Node's realm, not the test's (Jest VM context).
        const err = e as { message?: string; cause?: { message?: string } };
        if (typeof err?.message === 'string' && /fetch failed|ECONNRESET|ECONNREFUSED|socket|terminated|other side closed|not JSON/i.test(`${err.message} ${err.cause?.message ?? ''}`)) throw new Killed();
        throw e;
      }
    }
    const form = (p: string, parts: FormPart[]) =>
      call(() => {
        const { body, contentType } = multipartBody(parts);
        return client().json({ method: 'POST', path: p, body, headers: { 'content-type': contentType } });
      });

    async function uploadPlain(paths: string[], rng: Rng, label: string) {
      const batch = ++batchSeq;
      const datas = paths.map((p, i) => content(`${label}#${i}:${p}`, rng));
      const parts: FormPart[] = [{ name: 'info', value: JSON.stringify({ packageID }) }, ...paths.map((p, i) => ({ name: 'files', filename: encodeURIComponent(p), data: datas[i] }))];
      try {
        const res = await form('/v1/object/upload', parts);
        if (res.body.code === 'OK') {
          writesAnswered++;
          paths.forEach((p, i) => {
            plain.get(p)!.committed = datas[i];
            plain.get(p)!.pending = [];
          });
        } else if (res.status >= 500) violations.push(`upload of ${paths.join(',')} answered ${res.status} ${JSON.stringify(res.body)}`);
      } catch (e) {
        if (!(e instanceof Killed)) throw e;
        writesCut++;
        paths.forEach((p, i) => plain.get(p)!.pending.push({ data: datas[i], batch }));
        throw e;
      }
    }

    async function multipartStep(m: Multipart, rng: Rng, label: string) {
      if (m.objectID === undefined) {
        try {
          const res = await call(() => client().post('/v1/object/newMultipartUpload', { packageID, path: m.path }));
          if (res.body.code !== 'OK') {
            violations.push(`newMultipartUpload ${m.path} answered ${res.status} ${JSON.stringify(res.body)}`);
            multiparts.delete(m.path);
            return;
          }
          m.objectID = res.body.data.object.objectID;
          m.created = 'yes';
        } catch (e) {
          if (e instanceof Killed) m.created = 'maybe';
          throw e;
        }
        return;
      }
      if (m.completion) return;
      const known = [...m.parts.keys()];
      if (known.length >= 2 && rng.next() < 0.5) {
        // Join in a given order, sometimes repeating or reordering indexes (spec §5 allows both).
        const indexes = rng.next() < 0.5 ? known.sort((x, y) => x - y) : [known[known.length - 1], ...known, known[0]];
        const joined = Buffer.concat(indexes.map((i) => m.parts.get(i)!.committed!));
        try {
          const res = await call(() => client().post('/v1/object/completeMultipartUpload', { objectID: m.objectID, indexes }));
          if (res.body.code === 'OK') {
            writesAnswered++;
            m.completion = { state: 'yes', joined };
          } else violations.push(`completeMultipartUpload ${m.path} answered ${res.status} ${JSON.stringify(res.body)}`);
        } catch (e) {
          if (e instanceof Killed) {
            writesCut++;
            m.completion = { state: 'maybe', joined };
          }
          throw e;
        }
        return;
      }
      const index = rng.int(0, 2);
      const data = content(`${label}:${m.path}#${index}`, rng);
      try {
        const res = await form('/v1/object/uploadPart', [
          { name: 'info', value: JSON.stringify({ objectID: m.objectID, index }) },
          { name: 'file', filename: `part${index}`, data },
        ]);
        if (res.body.code === 'OK') {
          writesAnswered++;
          m.parts.set(index, { committed: data });
        } else violations.push(`uploadPart ${m.path}#${index} answered ${res.status} ${JSON.stringify(res.body)}`);
      } catch (e) {
        if (e instanceof Killed) {
          writesCut++;
          m.parts.set(index, { ...m.parts.get(index), pending: data });
        }
        throw e;
      }
    }

    /** A worker writes its own paths in sequence until the process is killed under it. */
    async function worker(w: number, round: number, stop: { killed: boolean }) {
      const rng = prng(SEED ^ ((round + 1) * 7919 + w * 104729));
      let op = 0;
      try {
        while (!stop.killed) {
          const label = `r${round}w${w}o${op++}`;
          const own = [...Array(PATHS_PER_WORKER).keys()].map((j) => `w${w}/p${j}`);
          const r = rng.next();
          if (r < 0.4) await uploadPlain([rng.pick(own)], rng, label);
          else if (r < 0.65) {
            const n = rng.int(2, PATHS_PER_WORKER);
            const chosen = [...own].sort(() => rng.next() - 0.5).slice(0, n);
            await uploadPlain(chosen, rng, label);
          } else {
            // Go on with an open multipart upload of this worker, or start one.
            const open = [...multiparts.values()].filter((m) => m.path.startsWith(`w${w}/`) && !m.completion && m.created === 'yes');
            const m = open.length && rng.next() < 0.8 ? rng.pick(open) : undefined;
            if (m) await multipartStep(m, rng, label);
            else {
              const fresh: Multipart = { path: `w${w}/m${++mpuSeq}`, created: 'maybe', parts: new Map() };
              multiparts.set(fresh.path, fresh);
              await multipartStep(fresh, rng, label);
            }
          }
        }
      } catch (e) {
        if (!(e instanceof Killed)) throw e;
      }
    }

    /** Lists the package, reads back every object, checks it against the model and settles what a kill left open. */
    async function verify(when: string, full = false) {
      const listed = await client().get('/v1/object/getPackageObjects', { packageID });
      if (listed.body.code !== 'OK') {
        violations.push(`${when}: getPackageObjects answered ${listed.status} ${JSON.stringify(listed.body)}`);
        return;
      }
      const objects: Array<{ objectID: number; path: string; size: string; fileHash: string; redundancy: { type: string } }> = listed.body.data.objects;
      const seen = new Map<string, Buffer | 'open'>();
      const batchOutcome = new Map<number, Set<boolean>>();
      for (const o of objects) {
        if (o.redundancy?.type === 'multipartUpload') {
          seen.set(o.path, 'open');
          const m = multiparts.get(o.path);
          if (!m) {
            violations.push(`${when}: unknown open multipart upload ${o.path}`);
            continue;
          }
          if (m.completion?.state === 'yes') violations.push(`${when}: ${o.path} was completed (answered OK) but is listed as an open multipart upload`);
          if (m.objectID !== undefined && m.objectID !== o.objectID) violations.push(`${when}: ${o.path} has objectID ${o.objectID}, not ${m.objectID}`);
          // Each part is the answered one, or the cut one, or (if none answered) absent: one combination must match.
          const indexes = [...m.parts.keys()].sort((x, y) => x - y);
          let combos: Array<Array<[number, Buffer]>> = [[]];
          for (const i of indexes) {
            const p = m.parts.get(i)!;
            const options: Array<Buffer | null> = [p.committed ?? null, ...(p.pending ? [p.pending] : [])];
            combos = combos.flatMap((c) => options.map((opt) => (opt ? [...c, [i, opt] as [number, Buffer]] : c)));
          }
          const match = combos.find((c) => compositeHashOf(c.map(([, b]) => b)) === o.fileHash);
          if (!match) violations.push(`${when}: open multipart upload ${o.path} has fileHash ${o.fileHash}, no combination of its answered/cut parts gives it`);
          else {
            m.parts = new Map(match.map(([i, b]) => [i, { committed: b }]));
            m.created = 'yes';
            m.objectID = o.objectID;
            if (m.completion?.state === 'maybe') m.completion = undefined;
          }
          continue;
        }
        const m0 = multiparts.get(o.path);
        if (m0?.completion?.state === 'yes' && m0.verified && !full) {
          // Completed earlier and read back byte-exact since: nothing writes it again, the listing must still agree.
          if (o.fileHash !== fullHash(m0.completion.joined)) violations.push(`${when}: completed ${o.path} is now listed with ${o.fileHash}`);
          seen.set(o.path, m0.completion.joined);
          continue;
        }
        let res: Response;
        let bytes: Buffer;
        try {
          res = await client().raw({ method: 'GET', path: '/v1/object/download', query: { objectID: o.objectID } });
          bytes = Buffer.from(await res.arrayBuffer());
        } catch (e) {
          // A download cut after its headers: what a listed object with missing or short data looks like.
          violations.push(`${when}: ${o.path} (listed, size ${o.size}) download failed: ${(e as Error).message} ${(e as { cause?: Error }).cause?.message ?? ''}`);
          seen.set(o.path, Buffer.alloc(0));
          plain.get(o.path) && (plain.get(o.path)!.pending = []);
          continue;
        }
        readsBack++;
        if (res.status !== 200) {
          violations.push(`${when}: ${o.path} (listed, size ${o.size}) downloads as ${res.status} ${bytes.toString('utf8').slice(0, 200)}`);
          seen.set(o.path, Buffer.alloc(0));
          plain.get(o.path) && (plain.get(o.path)!.pending = []);
          continue;
        }
        if (bytes.length !== Number(o.size) || fullHash(bytes) !== o.fileHash) {
          violations.push(`${when}: ${o.path} reads ${bytes.length} bytes ${fullHash(bytes)} but is listed with size ${o.size} ${o.fileHash} (half-written?)`);
        }
        seen.set(o.path, bytes);
        const p = plain.get(o.path);
        const m = multiparts.get(o.path);
        if (p) {
          const cut = p.pending.find((x) => x.data.equals(bytes));
          if (p.committed?.equals(bytes)) {
            for (const x of p.pending) (batchOutcome.get(x.batch) ?? batchOutcome.set(x.batch, new Set()).get(x.batch)!).add(false);
          } else if (cut) {
            for (const x of p.pending) (batchOutcome.get(x.batch) ?? batchOutcome.set(x.batch, new Set()).get(x.batch)!).add(x === cut);
            p.committed = cut.data;
          } else violations.push(`${when}: ${o.path} holds ${bytes.length} bytes (${bytes.subarray(0, 40).toString('latin1').split('|')[0]}) that are neither its last answered write nor a write cut by the kill`);
          p.pending = [];
        } else if (m) {
          if (!m.completion) violations.push(`${when}: multipart upload ${o.path} was never completed but is listed as a complete object`);
          else if (!m.completion.joined.equals(bytes)) violations.push(`${when}: completed ${o.path} holds ${bytes.length} bytes, not its ${m.completion.joined.length} joined bytes`);
          else {
            m.completion.state = 'yes';
            m.verified = true;
          }
        } else violations.push(`${when}: unknown object ${o.path}`);
      }
      for (const [p, st] of plain) {
        if (seen.has(p)) continue;
        if (st.committed) violations.push(`${when}: ${p} was answered OK (${st.committed.length} bytes) but is gone`);
        for (const x of st.pending) (batchOutcome.get(x.batch) ?? batchOutcome.set(x.batch, new Set()).get(x.batch)!).add(false);
        st.pending = [];
      }
      for (const [batch, outcomes] of batchOutcome) if (outcomes.size > 1) violations.push(`${when}: batch upload #${batch} cut by the kill is partly committed (the batch is atomic)`);
      for (const [p, m] of [...multiparts]) {
        if (seen.has(p)) continue;
        if (m.created === 'yes') violations.push(`${when}: multipart upload ${p} (answered OK) is gone`);
        multiparts.delete(p); // a cut newMultipartUpload that never committed
      }
    }

    const started = Date.now();
    let restartMs = 0;
    let verifyMs = 0;
    for (let round = 0; round < KILLS; round++) {
      const stop = { killed: false };
      const workers = [...Array(WORKERS).keys()].map((w) => worker(w, round, stop));
      // Random moment: early (inside the first requests) to late (mid-stream of large uploads).
      await new Promise((r) => setTimeout(r, master.int(50, 1200)));
      stop.killed = true;
      await gw.kill('SIGKILL');
      await Promise.all(workers);
      const t0 = Date.now();
      gw = await launchGatewayProcess({ dbName, dataDir, env: BASE_ENV });
      const t1 = Date.now();
      await verify(`after kill ${round + 1}`);
      restartMs += t1 - t0;
      verifyMs += Date.now() - t1;
    }
    console.log(`crash: ${KILLS} kills in ${((Date.now() - started) / 1000).toFixed(1)} s; ${writesAnswered} writes answered OK, ${writesCut} cut by a kill, ${readsBack} objects read back (restarts took ${(restartMs / 1000).toFixed(1)} s, checks ${(verifyMs / 1000).toFixed(1)} s)`);

    // Final: a process with the worker, GC every second at grace 0. Dead instances' temp files must go too.
    await gw.kill('SIGTERM');
    gw = await launchGatewayProcess({
      dbName,
      dataDir,
      args: ['--with-worker'],
      env: { ...BASE_ENV, JCS_GC_GRACE_SECONDS: '0', JCS_GC_READ_GRACE_SECONDS: '0', JCS_GC_TEMP_GRACE_SECONDS: '0', JCS_GC_INTERVAL_SECONDS: '1' },
    });
    await verify('after restart with GC', true);
    const db = new pg.Client({ connectionString: databaseUrlOf(dbName) });
    await db.connect();
    let leftovers: string[] = [];
    try {
      const deadline = Date.now() + 30_000;
      for (;;) {
        leftovers = await storageLeftovers(db, dataDir, creds.accessKey);
        if (leftovers.length === 0 || Date.now() > deadline) break;
        await new Promise((r) => setTimeout(r, 1000));
      }
    } finally {
      await db.end();
    }
    await verify('after GC', true);
    if (leftovers.length) violations.push(`after 30 s of GC at grace 0:\n  ${leftovers.slice(0, 30).join('\n  ')}${leftovers.length > 30 ? `\n  …${leftovers.length - 30} more` : ''}`);
    expect(violations).toEqual([]);
  }, 400_000);
});

/**
 * What storage holds that it should not: shard files without a row or a reference, referenced shards
 * whose file is missing or the wrong size, temp files anywhere.
 */
async function storageLeftovers(db: pg.Client, dataDir: string, accessKey: string): Promise<string[]> {
  const out: string[] = [];
  const [{ user_id: userId }] = (await db.query('SELECT user_id FROM access_keys WHERE access_key_id = $1', [accessKey])).rows;
  const [{ user_space_id: spaceId }] = (await db.query('SELECT user_space_id FROM user_spaces WHERE user_id = $1 AND is_default', [userId])).rows;
  const shardsDir = path.join(dataDir, 'tenants', String(userId), 'shards');
  const rows = new Map<string, number>((await db.query('SELECT file_hash, size FROM shards WHERE user_space_id = $1', [spaceId])).rows.map((r) => [r.file_hash, Number(r.size)]));
  const referenced = new Map<string, number>(
    (
      await db.query(
        `SELECT file_hash, size FROM object_blocks WHERE user_space_id = $1
         UNION SELECT file_hash, size FROM multipart_parts WHERE user_space_id = $1`,
        [spaceId],
      )
    ).rows.map((r) => [r.file_hash, Number(r.size)]),
  );
  const files = new Map<string, number>();
  const walk = (d: string, visit: (full: string, name: string, isDir: boolean) => void) => {
    if (!existsSync(d)) return;
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const full = path.join(d, e.name);
      visit(full, e.name, e.isDirectory());
      if (e.isDirectory()) walk(full, visit);
    }
  };
  walk(path.join(shardsDir, 'blocks'), (full, name, isDir) => {
    if (!isDir && !name.startsWith('.tmp-')) files.set(name, statSync(full).size);
  });
  for (const [hash, size] of files) {
    if (!rows.has(hash)) out.push(`orphan shard file (no shards row): ${hash} (${size} bytes)`);
    else if (!referenced.has(hash)) out.push(`orphan shard (no object block or multipart part refers to it): ${hash}`);
  }
  for (const [hash, size] of referenced) {
    if (!files.has(hash)) out.push(`referenced shard missing on disk: ${hash}`);
    else if (files.get(hash) !== size) out.push(`referenced shard ${hash} is ${files.get(hash)} bytes on disk, ${size} in the database`);
  }
  walk(path.join(shardsDir, 'tmp'), (full, name, isDir) => {
    if (!isDir && !name.startsWith('.tmp-')) out.push(`temp file left: ${path.relative(dataDir, full)}`);
  });
  walk(dataDir, (full, name, isDir) => {
    if (!isDir && name.startsWith('.tmp-')) out.push(`.tmp-* file left: ${path.relative(dataDir, full)}`);
  });
  return out;
}
