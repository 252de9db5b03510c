import { GetObjectCommand, PutObjectCommand, S3Client, CreateBucketCommand } from '@aws-sdk/client-s3';
import http from 'node:http';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { check, type BenchContext, type TargetCheck } from '../context.js';
import { cpuMs } from '../cpu.js';
import { pseudoRandomBytes, pseudoRandomStream } from '../data.js';
import { log, type Service } from '../processes.js';
import { profileDuring } from '../profile-pass.js';
import type { ProfileSummary } from '../profile.js';
import { median, mbPerSec, ratio, round } from '../stats.js';

/**
 * Issue 11: the gateway's S3 endpoint against the bench's plain Node server, same bytes, same run.
 *
 * - 1 GiB PutObject and GetObject with `@aws-sdk/client-s3` (current, default checksums: the body goes
 *   aws-chunked with a CRC32 trailer, which the gateway verifies; the gateway also computes the MD5
 *   ETag and the SHA-256 content address). Baseline: the same bytes POSTed raw to `/raw` (temp file,
 *   fsync, rename, folder fsync, as the gateway's Local driver) and read back from `/file`.
 *   Gateway and baseline alternate within each round; ratio = median of the per-round ratios.
 * - 4 KiB objects, 16 in flight: PutObject / GetObject of distinct objects vs the baseline's `/put`
 *   (one new file, one fsync) and `/file`; the baseline gets plain http.request calls from the same
 *   process, so the SDK's client-side cost (signing, checksums) counts against the gateway side.
 */
const SMALL = 4096;
const IN_FLIGHT = 16;
const BUCKET = 'bench-s3';

export interface S3EndpointResult {
  result: Record<string, unknown>;
  targets: TargetCheck[];
}

function sdk(endpoint: string, creds: { accessKey: string; secretKey: string }): S3Client {
  return new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: creds.accessKey, secretAccessKey: creds.secretKey },
    maxAttempts: 1,
    requestHandler: { httpAgent: new http.Agent({ keepAlive: true, maxSockets: IN_FLIGHT }) },
  });
}

const agent = new http.Agent({ keepAlive: true, maxSockets: IN_FLIGHT });

/** A plain request to the baseline server; resolves with the status after the body is drained. */
function plain(base: string, method: string, target: string, body?: Readable | Buffer, size?: number): Promise<{ status: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const req = http.request(base + target, { method, agent, headers: size !== undefined ? { 'content-length': size } : {} }, (res) => {
      let bytes = 0;
      res.on('data', (d: Buffer) => (bytes += d.length));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (Buffer.isBuffer(body)) req.end(body);
    else if (body) void pipeline(body, req).catch(reject);
    else req.end();
  });
}

async function drain(body: unknown): Promise<number> {
  let n = 0;
  for await (const chunk of body as AsyncIterable<Uint8Array>) n += chunk.length;
  return n;
}

async function timed<T>(pid: number, work: () => Promise<T>): Promise<{ ms: number; cpuMs: number; value: T }> {
  const c0 = cpuMs(pid);
  const t0 = performance.now();
  const value = await work();
  return { ms: performance.now() - t0, cpuMs: cpuMs(pid) - c0, value };
}

/** Runs `n` jobs with `k` in flight. */
async function pool(n: number, k: number, job: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: k }, async () => {
    while (next < n) await job(next++);
  }));
}

export async function runS3Endpoint(ctx: BenchContext, opts: { bigBytes: number; rounds: number; smallObjects: number }): Promise<S3EndpointResult> {
  const gateway = ctx.gateway;
  if (!gateway.s3Url) throw new Error('the bench gateway runs without its S3 listener');
  const creds = ctx.env.adminCredentials();
  const s3 = sdk(gateway.s3Url, creds);
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  const size = opts.bigBytes;
  const baselineFile = path.join(ctx.env.baselineDir, 's3-big.bin');

  const putGateway = (seed: number) =>
    timed(gateway.pid, () => s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'big.bin', Body: pseudoRandomStream(size, seed), ContentLength: size })));
  const putBaseline = (seed: number) =>
    timed(ctx.baseline.pid, async () => {
      const r = await plain(ctx.baseline.url, 'POST', '/raw?name=s3-big.bin', pseudoRandomStream(size, seed), size);
      if (r.status !== 200) throw new Error(`baseline /raw: HTTP ${r.status}`);
    });
  const getGateway = () =>
    timed(gateway.pid, async () => {
      const got = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'big.bin' }));
      if ((await drain(got.Body)) !== size) throw new Error('GetObject: short body');
    });
  const getBaseline = () =>
    timed(ctx.baseline.pid, async () => {
      const r = await plain(ctx.baseline.url, 'GET', `/file?path=${encodeURIComponent(baselineFile)}`);
      if (r.bytes !== size) throw new Error('baseline /file: short body');
    });

  log(`s3Endpoint: ${size / 2 ** 20} MiB PutObject/GetObject, ${opts.rounds} rounds`);
  await putGateway(1); // warm-up (unmeasured)
  await putBaseline(1);
  const rounds: Array<Record<string, number>> = [];
  for (let r = 0; r < opts.rounds; r++) {
    const seed = 100 + r;
    // ABBA: which side goes first alternates round by round.
    const first = r % 2 === 0;
    const pg = first ? await putGateway(seed) : undefined;
    const pb = await putBaseline(seed);
    const pg2 = pg ?? (await putGateway(seed));
    const gb = first ? await getBaseline() : undefined;
    const gg = await getGateway();
    const gb2 = gb ?? (await getBaseline());
    rounds.push({
      putGatewayMBps: mbPerSec(size, pg2.ms),
      putBaselineMBps: mbPerSec(size, pb.ms),
      getGatewayMBps: mbPerSec(size, gg.ms),
      getBaselineMBps: mbPerSec(size, gb2.ms),
      putGatewayCpuMsPerGiB: round((pg2.cpuMs * 2 ** 30) / size, 0),
      putBaselineCpuMsPerGiB: round((pb.cpuMs * 2 ** 30) / size, 0),
      getGatewayCpuMsPerGiB: round((gg.cpuMs * 2 ** 30) / size, 0),
      getBaselineCpuMsPerGiB: round((gb2.cpuMs * 2 ** 30) / size, 0),
    });
    log(`  round ${r + 1}: PUT ${rounds[r].putGatewayMBps} vs ${rounds[r].putBaselineMBps} MB/s, GET ${rounds[r].getGatewayMBps} vs ${rounds[r].getBaselineMBps} MB/s`);
  }
  const med = (k: string) => median(rounds.map((x) => x[k]));
  const putRatio = median(rounds.map((x) => x.putGatewayMBps / x.putBaselineMBps));
  const getRatio = median(rounds.map((x) => x.getGatewayMBps / x.getBaselineMBps));

  // 4 KiB objects, 16 in flight.
  const n = opts.smallObjects;
  const bodies = Array.from({ length: n }, (_, i) => pseudoRandomBytes(SMALL, 9_000_000 + i));
  const smallRound = async (label: string) => {
    const pgw = await timed(gateway.pid, () => pool(n, IN_FLIGHT, async (i) => void (await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: `small/${label}/${i}`, Body: bodies[i] })))));
    const pbl = await timed(ctx.baseline.pid, () =>
      pool(n, IN_FLIGHT, async (i) => {
        const r = await plain(ctx.baseline.url, 'POST', `/put?name=s3small-${label}-${i}`, bodies[i], SMALL);
        if (r.status !== 200) throw new Error(`baseline /put: HTTP ${r.status}`);
      }),
    );
    const ggw = await timed(gateway.pid, () =>
      pool(n, IN_FLIGHT, async (i) => {
        const got = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: `small/${label}/${i}` }));
        if ((await drain(got.Body)) !== SMALL) throw new Error('small GetObject: short body');
      }),
    );
    const gbl = await timed(ctx.baseline.pid, () =>
      pool(n, IN_FLIGHT, async (i) => {
        const r = await plain(ctx.baseline.url, 'GET', `/file?path=${encodeURIComponent(path.join(ctx.env.baselineDir, 'put', `s3small-${label}-${i}`))}`);
        if (r.bytes !== SMALL) throw new Error('baseline small /file: short body');
      }),
    );
    const perSec = (ms: number) => round((n * 1000) / ms, 0);
    return {
      putGatewayPerSec: perSec(pgw.ms),
      putBaselinePerSec: perSec(pbl.ms),
      getGatewayPerSec: perSec(ggw.ms),
      getBaselinePerSec: perSec(gbl.ms),
      putGatewayCpuMsPerObject: round(pgw.cpuMs / n, 3),
      putBaselineCpuMsPerObject: round(pbl.cpuMs / n, 3),
      getGatewayCpuMsPerObject: round(ggw.cpuMs / n, 3),
      getBaselineCpuMsPerObject: round(gbl.cpuMs / n, 3),
    };
  };
  log(`s3Endpoint: ${n} × 4 KiB PutObject/GetObject, ${IN_FLIGHT} in flight`);
  await smallRound('warm');
  const smallRounds = [];
  for (let r = 0; r < 3; r++) smallRounds.push(await smallRound(`r${r}`));
  const smallPut = median(smallRounds.map((x) => x.putGatewayPerSec / x.putBaselinePerSec));
  const smallGet = median(smallRounds.map((x) => x.getGatewayPerSec / x.getBaselinePerSec));
  log(`  small: PUT ratio ${round(smallPut)}, GET ratio ${round(smallGet)}`);
  s3.destroy();

  const targets = [
    check('s3Endpoint.put.ratio', round(putRatio), '>=', 0.7, 11),
    check('s3Endpoint.get.ratio', round(getRatio), '>=', 0.8, 11),
    check('s3Endpoint.small.put.ratio', round(smallPut), '>=', 0.5, 11),
    check('s3Endpoint.small.get.ratio', round(smallGet), '>=', 0.5, 11),
  ];
  return {
    targets,
    result: {
      bytes: size,
      put: { ratio: round(putRatio), gatewayMBps: med('putGatewayMBps'), baselineMBps: med('putBaselineMBps'), gatewayCpuMsPerGiB: med('putGatewayCpuMsPerGiB'), baselineCpuMsPerGiB: med('putBaselineCpuMsPerGiB') },
      get: { ratio: round(getRatio), gatewayMBps: med('getGatewayMBps'), baselineMBps: med('getBaselineMBps'), gatewayCpuMsPerGiB: med('getGatewayCpuMsPerGiB'), baselineCpuMsPerGiB: med('getBaselineCpuMsPerGiB') },
      small: { objects: n, inFlight: IN_FLIGHT, put: { ratio: round(smallPut) }, get: { ratio: round(smallGet) }, rounds: smallRounds },
      rounds,
      targets,
    },
  };
}

/**
 * CPU profiles of the S3 workloads whose target was missed, on a second gateway process started with
 * the profiler (same database and data; the measured one stays idle meanwhile). Not figures.
 */
export async function profileS3Endpoint(ctx: BenchContext, missed: string[], opts: { bigBytes: number; smallObjects: number }): Promise<Record<string, ProfileSummary>> {
  if (!missed.length) return {};
  const gw: Service = await ctx.env.startGateway({ profile: true });
  const s3 = sdk(gw.s3Url!, ctx.env.adminCredentials());
  const size = Math.min(opts.bigBytes, 256 * 2 ** 20);
  const out: Record<string, ProfileSummary> = {};
  try {
    for (const figure of missed) {
      const name = `s3Endpoint-${figure.split('.').slice(1, -1).join('-')}`;
      log(`profiling gateway: ${name}`);
      const work: Record<string, () => Promise<unknown>> = {
        's3Endpoint.put.ratio': () => s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'prof.bin', Body: pseudoRandomStream(size, 7), ContentLength: size })),
        's3Endpoint.get.ratio': async () => drain((await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'big.bin' }))).Body),
        's3Endpoint.small.put.ratio': () => pool(opts.smallObjects, IN_FLIGHT, async (i) => void (await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: `prof/${i}`, Body: pseudoRandomBytes(SMALL, 77_000 + i) })))),
        's3Endpoint.small.get.ratio': () => pool(opts.smallObjects, IN_FLIGHT, async (i) => void (await drain((await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: `small/r0/${i}` }))).Body))),
      };
      if (!work[figure]) continue;
      try {
        out[name] = await profileDuring(gw, name, work[figure]);
      } catch (e) {
        // A failed profiling workload must not cost the run's measured figures.
        log(`  ${name}: profiling failed: ${(e as Error).message}`);
        continue;
      }
      const top = (xs: Array<{ owner: string; pctOfBusy: number }>) => xs.slice(0, 8).map((o) => `${o.owner} ${o.pctOfBusy}%`).join(', ');
      log(`  ${name}: busy ${Math.round(out[name].wallMs - out[name].idleMs)} of ${Math.round(out[name].wallMs)} ms; by calling owner: ${top(out[name].byCallingOwner)}`);
    }
  } finally {
    s3.destroy();
    await ctx.env.stop(gw);
  }
  return out;
}
