import { readdirSync } from 'node:fs';
import path from 'node:path';
import { check, newPackage, type BenchContext, type TargetCheck } from '../context.js';
import { cpuMs } from '../cpu.js';
import { pseudoRandomBytes } from '../data.js';
import { BenchClient, type BenchResponse, type PreparedRequest } from '../http-client.js';
import { log } from '../processes.js';
import { latencySummary, median, ratio, round } from '../stats.js';

/**
 * Issue 8, the fixed cost of a request: 4 KiB objects one per request (upload, download) and signed
 * metadata calls (bucket/listAll, an exact listByPath), each against the least a plain node:http
 * server must do for the same answer (bench/baseline-server.ts: /put, /file, /sql/*).
 *
 * Fair clients: both sides get the same client code, their own keep-alive agent with a socket per
 * request in flight, and every request (SigV4 signature, multipart body) is built before its timed
 * loop, so what is timed is the exchange itself. Gateway and baseline alternate round by round (ABBA)
 * for throughput, request by request for latency at 1 in flight; both are warmed up first.
 */
export const OBJECT_SIZE = 4096;
const CONCURRENCIES = [1, 16] as const;
const ROUNDS = 4;
const WARMUP = 40;

type Kind = 'gateway' | 'baseline';

export interface SmallObject {
  path: string;
  fileHash: string;
}

/** What the profiling pass needs to repeat this scenario's gateway side. */
export interface RequestCostInputs {
  packageID: number;
  objects: SmallObject[];
  /** The one path the exact listByPath names. */
  exactPath: string;
  userID: number;
}

/** One `info` part and one 4 KiB `files` part, as one Buffer (the same bytes go to both servers). */
function smallForm(packageID: number, objectPath: string, data: Buffer): { body: Buffer; contentType: string } {
  const boundary = '----jcsbench' + objectPath.length.toString(16) + Date.now().toString(16);
  const head =
    `--${boundary}\r\nContent-Disposition: form-data; name="info"\r\n\r\n${JSON.stringify({ packageID })}\r\n` +
    `--${boundary}\r\nContent-Disposition: form-data; name="files"; filename="${encodeURIComponent(objectPath)}"\r\n` +
    `Content-Type: application/octet-stream\r\n\r\n`;
  return {
    body: Buffer.concat([Buffer.from(head), data, Buffer.from(`\r\n--${boundary}--\r\n`)]),
    contentType: `multipart/form-data; boundary=${boundary}`,
  };
}

let seedCounter = 5_000_000;

/**
 * `n` signed uploads of distinct 4 KiB objects (distinct bytes, so content addressing skips no write)
 * at new paths under `dir`. The baseline gets the very same bodies and writes each to a new file.
 */
export async function prepareUploads(client: BenchClient, kind: Kind, packageID: number, dir: string, n: number) {
  const paths: string[] = [];
  const bodyBytes: number[] = [];
  const reqs: PreparedRequest[] = [];
  for (let i = 0; i < n; i++) {
    const objectPath = `${dir}/${i}.bin`;
    const { body, contentType } = smallForm(packageID, objectPath, pseudoRandomBytes(OBJECT_SIZE, seedCounter++));
    paths.push(objectPath);
    bodyBytes.push(body.length);
    reqs.push(
      await client.prepare({
        method: 'POST',
        path: kind === 'gateway' ? '/v1/object/upload' : '/put',
        query: kind === 'gateway' ? undefined : { name: `${dir.replace(/\//g, '-')}-${i}.bin` },
        body,
        unsignedPayload: true,
        headers: { 'content-type': contentType },
        sink: 'buffer',
      }),
    );
  }
  return { reqs, paths, bodyBytes };
}

/** Downloads of `objects` (cycled to `n`): the gateway by path, the baseline its very shard files. */
export async function prepareDownloads(client: BenchClient, kind: Kind, packageID: number, objects: SmallObject[], shardFiles: Map<string, string>, n: number) {
  const reqs: PreparedRequest[] = [];
  for (let i = 0; i < n; i++) {
    const o = objects[i % objects.length];
    reqs.push(
      await client.prepare(
        kind === 'gateway'
          ? { path: '/v1/object/downloadByPath', query: { packageID, path: o.path }, sink: 'discard' }
          : { path: '/file', query: { path: shardFiles.get(o.fileHash)! }, sink: 'discard' },
      ),
    );
  }
  return reqs;
}

export type MetaCall = 'listAll' | 'listByPath';

export async function prepareMeta(client: BenchClient, kind: Kind, call: MetaCall, inputs: RequestCostInputs, n: number) {
  const spec =
    call === 'listAll'
      ? kind === 'gateway'
        ? { path: '/v1/bucket/listAll' }
        : { path: '/sql/buckets', query: { userID: inputs.userID } }
      : kind === 'gateway'
        ? { path: '/v1/object/listByPath', query: { packageID: inputs.packageID, path: inputs.exactPath, isPrefix: false } }
        : { path: '/sql/object', query: { userID: inputs.userID, packageID: inputs.packageID, path: inputs.exactPath } };
  const reqs: PreparedRequest[] = [];
  for (let i = 0; i < n; i++) reqs.push(await client.prepare({ ...spec, sink: 'buffer' }));
  return reqs;
}

export interface LoadResult {
  ms: number;
  latencies: number[];
  responses: BenchResponse[];
  errors: string[];
}

/**
 * Sends `reqs` with `concurrency` in flight (each worker takes the next request when its last one
 * ends). A failure is counted, not retried; `expect` runs on each response after the clock stopped.
 */
export async function runLoad(client: BenchClient, reqs: PreparedRequest[], concurrency: number): Promise<LoadResult> {
  let next = 0;
  const responses: BenchResponse[] = new Array(reqs.length);
  const errors: string[] = [];
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: Math.min(concurrency, reqs.length) }, async () => {
      for (let i = next++; i < reqs.length; i = next++) {
        try {
          responses[i] = await client.send(reqs[i]);
        } catch (e) {
          errors.push((e as Error).message);
        }
      }
    }),
  );
  const ms = performance.now() - t0;
  return { ms, latencies: responses.filter(Boolean).map((r) => r.ms), responses, errors };
}

/** Status and body of every response, checked after the timed loop; returns how many were right. */
function countGood(load: LoadResult, expect: (r: BenchResponse, i: number) => string | undefined): number {
  let good = 0;
  load.responses.forEach((r, i) => {
    if (!r) return;
    const why = r.status < 200 || r.status > 299 ? `HTTP ${r.status} ${r.body?.toString('utf8').slice(0, 200) ?? ''}` : expect(r, i);
    if (why) load.errors.push(why);
    else good++;
  });
  return good;
}

const json = (r: BenchResponse) => JSON.parse(r.body!.toString('utf8'));

interface SideRounds {
  objects: number[];
  ms: number[];
  cpuMs: number[];
  latencies: number[];
  errors: string[];
}

function summariseSide(s: SideRounds) {
  const objects = s.objects.reduce((a, b) => a + b, 0);
  const ms = s.ms.reduce((a, b) => a + b, 0);
  return {
    objectsPerSec: round(objects / (ms / 1000), 1),
    perRoundObjectsPerSec: s.objects.map((o, i) => round(o / (s.ms[i] / 1000), 1)),
    objects,
    seconds: round(ms / 1000),
    requestLatency: latencySummary(s.latencies),
    serverCpuMsPerObject: round(s.cpuMs.reduce((a, b) => a + b, 0) / Math.max(1, objects)),
    failedRequests: s.errors.length,
    ...(s.errors.length ? { firstErrors: [...new Set(s.errors)].slice(0, 3) } : {}),
  };
}

/**
 * Throughput of one operation at one concurrency: ROUNDS rounds, gateway and baseline alternating
 * (ABBA), each round's requests prepared just before it. `ratio` is the median of the per-round
 * ratios (runs adjacent in time); `ratioOfRates` divides the totals.
 */
async function compareThroughput(
  ctx: BenchContext,
  clients: Record<Kind, BenchClient>,
  concurrency: number,
  n: number,
  prepare: (kind: Kind, round: number, count: number) => Promise<PreparedRequest[]>,
  expect: (kind: Kind, round: number) => (r: BenchResponse, i: number) => string | undefined,
) {
  const sides: Record<Kind, SideRounds> = {
    gateway: { objects: [], ms: [], cpuMs: [], latencies: [], errors: [] },
    baseline: { objects: [], ms: [], cpuMs: [], latencies: [], errors: [] },
  };
  const perRound = Math.max(1, Math.ceil(n / ROUNDS));
  for (let r = 0; r < ROUNDS; r++) {
    for (const kind of r % 2 === 0 ? (['gateway', 'baseline'] as const) : (['baseline', 'gateway'] as const)) {
      const reqs = await prepare(kind, r, perRound);
      const pid = kind === 'gateway' ? ctx.gateway.pid : ctx.baseline.pid;
      const cpu0 = cpuMs(pid);
      const load = await runLoad(clients[kind], reqs, concurrency);
      const s = sides[kind];
      s.cpuMs.push(cpuMs(pid) - cpu0);
      s.ms.push(load.ms);
      s.objects.push(countGood(load, expect(kind, r)));
      s.latencies.push(...load.latencies);
      s.errors.push(...load.errors);
    }
  }
  const gateway = summariseSide(sides.gateway);
  const baseline = summariseSide(sides.baseline);
  const perRoundRatio = gateway.perRoundObjectsPerSec.map((g, i) => ratio(g, baseline.perRoundObjectsPerSec[i]));
  return {
    gateway,
    baseline,
    ratio: round(median(perRoundRatio)),
    perRoundRatio,
    ratioOfRates: ratio(gateway.objectsPerSec, baseline.objectsPerSec),
    /** Server CPU per object, gateway / baseline: the steadiest figure on a shared machine. */
    cpuRatio: ratio(gateway.serverCpuMsPerObject, baseline.serverCpuMsPerObject),
  };
}

/**
 * Latency of one metadata call at `concurrency` in flight. At 1 the two sides alternate request by
 * request (gw, bl, bl, gw, ...), so a noisy moment hits both; at more, round by round (ABBA).
 */
async function compareLatency(
  ctx: BenchContext,
  clients: Record<Kind, BenchClient>,
  call: MetaCall,
  inputs: RequestCostInputs,
  concurrency: number,
  n: number,
  expect: (kind: Kind) => (r: BenchResponse) => string | undefined,
) {
  const lat: Record<Kind, number[]> = { gateway: [], baseline: [] };
  const errors: Record<Kind, string[]> = { gateway: [], baseline: [] };
  const cpu: Record<Kind, number> = { gateway: 0, baseline: 0 };
  const pid = (k: Kind) => (k === 'gateway' ? ctx.gateway.pid : ctx.baseline.pid);
  const record = (kind: Kind, load: LoadResult) => {
    const good = countGood(load, expect(kind));
    errors[kind].push(...load.errors);
    if (good === load.responses.length) lat[kind].push(...load.latencies);
  };
  if (concurrency === 1) {
    const reqs = { gateway: await prepareMeta(clients.gateway, 'gateway', call, inputs, n), baseline: await prepareMeta(clients.baseline, 'baseline', call, inputs, n) };
    const c0 = { gateway: cpuMs(pid('gateway')), baseline: cpuMs(pid('baseline')) };
    for (let i = 0; i < n; i++)
      for (const kind of i % 2 === 0 ? (['gateway', 'baseline'] as const) : (['baseline', 'gateway'] as const))
        record(kind, await runLoad(clients[kind], [reqs[kind][i]], 1));
    // Each server is its own process, so its CPU over the interleaved loop is its own work.
    for (const k of ['gateway', 'baseline'] as const) cpu[k] = cpuMs(pid(k)) - c0[k];
  } else {
    const perRound = Math.max(1, Math.ceil(n / ROUNDS));
    for (let r = 0; r < ROUNDS; r++)
      for (const kind of r % 2 === 0 ? (['gateway', 'baseline'] as const) : (['baseline', 'gateway'] as const)) {
        const reqs = await prepareMeta(clients[kind], kind, call, inputs, perRound);
        const c0 = cpuMs(pid(kind));
        record(kind, await runLoad(clients[kind], reqs, concurrency));
        cpu[kind] += cpuMs(pid(kind)) - c0;
      }
  }
  const side = (k: Kind) => ({
    ...latencySummary(lat[k]),
    serverCpuMsPerRequest: round(cpu[k] / Math.max(1, lat[k].length)),
    failedRequests: errors[k].length,
    ...(errors[k].length ? { firstErrors: [...new Set(errors[k])].slice(0, 3) } : {}),
  });
  const gateway = side('gateway');
  const baseline = side('baseline');
  return {
    inFlight: concurrency,
    gateway,
    baseline,
    p50Ratio: ratio(gateway.p50Ms, baseline.p50Ms),
    p90Ratio: ratio(gateway.p90Ms, baseline.p90Ms),
    p99Ratio: ratio(gateway.p99Ms, baseline.p99Ms),
    cpuRatio: ratio(gateway.serverCpuMsPerRequest, baseline.serverCpuMsPerRequest),
  };
}

/** The gateway's shard file of each hash (the Local driver names them by fileHash). */
export function shardFilesOf(dataDir: string, hashes: Set<string>): Map<string, string> {
  const found = new Map<string, string>();
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (hashes.has(e.name)) found.set(e.name, p);
    }
  };
  walk(dataDir);
  const missing = [...hashes].filter((h) => !found.has(h));
  if (missing.length) throw new Error(`${missing.length} shard files not under ${dataDir} (first: ${missing[0]})`);
  return found;
}

/** What a gateway upload answered: the one object at the path sent. */
export const uploadedObject = (r: BenchResponse, expectedPath: string): SmallObject | string => {
  const j = json(r);
  const up = j.data?.uploadeds?.[0];
  if (j.code !== 'OK' || up?.path !== expectedPath || Number(up.size) !== OBJECT_SIZE) return `upload answered ${r.body!.toString('utf8').slice(0, 200)}`;
  return { path: up.path, fileHash: up.fileHash };
};

const expectBytes = (r: BenchResponse) => (r.bytes === OBJECT_SIZE ? undefined : `download answered ${r.bytes} bytes`);

/** Attaches a target and whether it was met to a figure; the check goes to the JSON's target list too. */
function judged<T extends object>(targets: TargetCheck[], figure: T, c: TargetCheck): T & { target: string; met: boolean } {
  targets.push(c);
  return { ...figure, target: c.target, met: c.met };
}

export async function runRequestCost(ctx: BenchContext, n = 400) {
  const creds = ctx.env.adminCredentials();
  // A socket per request in flight, per side: nobody waits for a connection.
  const clients: Record<Kind, BenchClient> = {
    gateway: new BenchClient(ctx.gateway.url, creds, { maxSockets: 16 }),
    baseline: new BenchClient(ctx.baseline.url, creds, { maxSockets: 16 }),
  };
  const targets: TargetCheck[] = [];
  try {
    const packageID = await newPackage(ctx.gw, 'bench-request-cost', 'small');
    const objects: SmallObject[] = [];

    // Warm-up, both sides, not counted: upload, download (connections, JIT, first-use paths).
    for (const kind of ['gateway', 'baseline'] as const) {
      const { reqs, paths } = await prepareUploads(clients[kind], kind, packageID, `rc-warm/${kind}`, WARMUP);
      const load = await runLoad(clients[kind], reqs, 4);
      const bad = load.errors.length + load.responses.filter((r) => r?.status !== 200).length;
      if (bad) throw new Error(`requestCost warm-up ${kind} upload: ${load.errors[0] ?? load.responses.find((r) => r?.status !== 200)?.body?.toString('utf8').slice(0, 300)}`);
      if (kind === 'gateway')
        load.responses.forEach((r, i) => {
          const o = uploadedObject(r, paths[i]);
          if (typeof o === 'string') throw new Error(o);
          objects.push(o);
        });
    }

    const upload: Record<string, unknown> = { objectBytes: OBJECT_SIZE, requestsPerSide: n, rounds: ROUNDS };
    for (const c of CONCURRENCIES) {
      const sent: Record<string, { paths: string[]; bodyBytes: number[] }> = {};
      const r = await compareThroughput(
        ctx,
        clients,
        c,
        n,
        async (kind, round, count) => {
          const p = await prepareUploads(clients[kind], kind, packageID, `rc-c${c}/${kind}/r${round}`, count);
          sent[`${kind}${round}`] = p;
          return p.reqs;
        },
        (kind, round) => (res, i) => {
          const s = sent[`${kind}${round}`];
          // The baseline stores the whole body it was sent (the form around the 4 KiB too).
          if (kind === 'baseline') return json(res).data?.size === s.bodyBytes[i] ? undefined : `baseline put answered ${res.body!.toString('utf8')}`;
          const o = uploadedObject(res, s.paths[i]);
          if (typeof o === 'string') return o;
          objects.push(o);
          return undefined;
        },
      );
      upload[`concurrency${c}`] = judged(targets, r, check(`requestCost.upload.concurrency${c}.ratio`, r.ratio, '>=', 0.5, 8));
      log(`4 KiB upload, ${c} in flight: gateway ${r.gateway.objectsPerSec}/s, baseline ${r.baseline.objectsPerSec}/s, ratio ${r.ratio}${r.gateway.failedRequests ? `, ${r.gateway.failedRequests} gateway requests FAILED: ${r.gateway.firstErrors![0]}` : ''}`);
    }

    const shardFiles = shardFilesOf(ctx.env.dataDir, new Set(objects.map((o) => o.fileHash)));
    const download: Record<string, unknown> = { objectBytes: OBJECT_SIZE, requestsPerSide: n, rounds: ROUNDS, distinctObjects: objects.length };
    for (const kind of ['gateway', 'baseline'] as const) {
      const load = await runLoad(clients[kind], await prepareDownloads(clients[kind], kind, packageID, objects, shardFiles, WARMUP), 4);
      if (load.errors.length || load.responses.some((r) => r.status !== 200 || r.bytes !== OBJECT_SIZE))
        throw new Error(`requestCost warm-up ${kind} download: ${load.errors[0] ?? `HTTP ${load.responses.find((r) => r.status !== 200)?.status}`}`);
    }
    let offset = 0;
    for (const c of CONCURRENCIES) {
      const r = await compareThroughput(
        ctx,
        clients,
        c,
        n,
        // Both sides read the same objects in the same order, a new stretch of them each round.
        async (kind, round, count) => {
          const start = (offset + round * count) % objects.length;
          return prepareDownloads(clients[kind], kind, packageID, [...objects.slice(start), ...objects.slice(0, start)], shardFiles, count);
        },
        () => expectBytes,
      );
      offset += n;
      download[`concurrency${c}`] = judged(targets, r, check(`requestCost.download.concurrency${c}.ratio`, r.ratio, '>=', 0.6, 8));
      log(`4 KiB download, ${c} in flight: gateway ${r.gateway.objectsPerSec}/s, baseline ${r.baseline.objectsPerSec}/s, ratio ${r.ratio}${r.gateway.failedRequests ? `, ${r.gateway.failedRequests} gateway requests FAILED: ${r.gateway.firstErrors![0]}` : ''}`);
    }

    const inputs: RequestCostInputs = { packageID, objects, exactPath: objects[0].path, userID: ctx.userID };
    const bucketCount = (await ctx.gw.json<{ buckets: unknown[] }>({ path: '/v1/bucket/listAll' })).buckets.length;
    const expectMeta = (call: MetaCall) => (kind: Kind) => (r: BenchResponse) => {
      const d = json(r).data;
      if (call === 'listAll') return d?.buckets?.length === bucketCount ? undefined : `${kind} listAll answered ${r.body!.toString('utf8').slice(0, 200)}`;
      return d?.objects?.length === 1 && d.objects[0].path === inputs.exactPath ? undefined : `${kind} listByPath answered ${r.body!.toString('utf8').slice(0, 200)}`;
    };
    const meta: Record<string, Record<string, unknown>> = {
      listAll: { buckets: bucketCount, baselineSql: 'buckets of user_id, ORDER BY bucket_id' },
      listByPath: { exactPath: inputs.exactPath, baselineSql: 'objects row of (user_id, package_id, path) with json_agg of its object_blocks' },
    };
    for (const call of ['listAll', 'listByPath'] as const) {
      // Warm-up: 20 of each, checked like the measured ones.
      await compareLatency(ctx, clients, call, inputs, 1, 20, expectMeta(call));
      for (const c of CONCURRENCIES) {
        const r = await compareLatency(ctx, clients, call, inputs, c, n, expectMeta(call));
        const failed = r.gateway.failedRequests + r.baseline.failedRequests;
        if (failed) throw new Error(`requestCost ${call}: ${failed} requests failed: ${[...(r.gateway.firstErrors ?? []), ...(r.baseline.firstErrors ?? [])][0]}`);
        // The target is at 1 in flight; 16 in flight is an extra figure.
        meta[call][`concurrency${c}`] = c === 1 ? judged(targets, r, check(`requestCost.${call}.concurrency1.p50Ratio`, r.p50Ratio, '<=', 2, 8)) : r;
        log(`${call}, ${c} in flight: gateway p50 ${r.gateway.p50Ms} ms p99 ${r.gateway.p99Ms} ms; baseline p50 ${r.baseline.p50Ms} ms p99 ${r.baseline.p99Ms} ms; p50 ratio ${r.p50Ratio}`);
      }
    }
    return { result: { upload, download, listAll: meta.listAll, listByPath: meta.listByPath }, targets, inputs };
  } finally {
    clients.gateway.close();
    clients.baseline.close();
  }
}
