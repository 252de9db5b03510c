import { CopyObjectCommand, DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { multipartBody } from '../../test/support/multipart.js';
import { check, newPackage, type BenchContext, type TargetCheck } from '../context.js';
import { cpuMs } from '../cpu.js';
import { pseudoRandomStream } from '../data.js';
import type { BenchClient } from '../http-client.js';
import { log } from '../processes.js';
import { RssMonitor } from '../rss.js';
import { PART_SIZE, QUEUE_SIZE, s3Client, S3RVER_KEY } from '../s3-client.js';
import { startS3rverProcess } from '../s3rver-process.js';
import { GiB, mbPerSec, median, MiB, ratio, round } from '../stats.js';

const BUCKET = 'bench-s3';
/** The baseline's object: overwritten every round (the gateway's shards stay, one per round). */
const BASELINE_KEY = 'baseline/object.bin';
/** The copying baseline: uploaded to a temp key, copied here, temp key deleted (what publishing a shard costs). */
const BASELINE_TMP_KEY = 'baseline/tmp.bin';
const BASELINE_COPIED_KEY = 'baseline/copied.bin';
/** The relay's object (bench/s3-relay.ts in the baseline server). */
const RELAY_KEY = 'relay/object.bin';
/** Seeds of the warm-up (SEED0) and of round r (SEED0 + 1 + r). */
const SEED0 = 300;
/** New content for the profiling pass's upload (so it publishes, as the measured ones do). */
export const S3_PROFILE_SEED = 399;

/** What the profiling pass needs to repeat the gateway's side of this scenario. */
export interface S3SpaceInputs {
  packageID: number;
  userSpaceID: number;
  size: number;
  /** The last object the gateway stored there. */
  objectID: number;
}

/** The gateway's fileHash of `size` bytes of seed `seed` ('Full' + upper-case hex SHA-256). */
async function expectedHash(size: number, seed: number): Promise<string> {
  const h = createHash('sha256');
  for await (const c of pseudoRandomStream(size, seed)) h.update(c as Buffer);
  return 'Full' + h.digest('hex').toUpperCase();
}

interface Run {
  ms: number;
  /** The process between the client and s3rver (the gateway, or the relay); none for the direct baselines. */
  hopCpuMs: number;
  s3rverCpuMs: number;
  /** The bench process: on the direct baselines it is the S3 client doing the transfer itself. */
  clientCpuMs: number;
  /** Uploads: from the last byte leaving the client (or the generator) to the end: last parts, completion, publishing. */
  afterLastByteMs?: number;
  hopPeakRssMiB?: number;
}

/** Times `work` and the CPU each process (the hop if any, s3rver, this client) spent meanwhile. */
async function measured<T extends { afterLastByteMs?: number } | void>(pids: { hop?: number; s3rver: number }, work: () => Promise<T>) {
  const rss = pids.hop === undefined ? undefined : new RssMonitor(pids.hop).start();
  const h0 = pids.hop === undefined ? 0 : cpuMs(pids.hop);
  const s0 = cpuMs(pids.s3rver);
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const value = await work();
  const ms = performance.now() - t0;
  const c = process.cpuUsage(c0);
  const r = rss?.stop();
  const run: Run = {
    ms,
    hopCpuMs: pids.hop === undefined ? 0 : cpuMs(pids.hop) - h0,
    s3rverCpuMs: cpuMs(pids.s3rver) - s0,
    clientCpuMs: (c.user + c.system) / 1000,
    ...(value && value.afterLastByteMs !== undefined ? { afterLastByteMs: value.afterLastByteMs } : {}),
    ...(r ? { hopPeakRssMiB: Math.max(r.peakSampledMiB, r.peakHwmMiB ?? 0) } : {}),
  };
  return { value, run };
}

/** The multipart body the gateway expects; the relay receives the very same bytes. */
function form(size: number, seed: number, info: object, objectPath: string) {
  return multipartBody([
    { name: 'info', value: JSON.stringify(info) },
    { name: 'files', filename: encodeURIComponent(objectPath), data: () => pseudoRandomStream(size, seed) },
  ]);
}

/** One upload through the gateway into the S3 space; checks the stored size (and hash, if given). */
export async function gatewayUpload(client: BenchClient, inputs: Omit<S3SpaceInputs, 'objectID'>, seed: number, objectPath: string, hash?: string) {
  const { body, contentType } = form(inputs.size, seed, { packageID: inputs.packageID, affinity: inputs.userSpaceID }, objectPath);
  const res = await client.request({ method: 'POST', path: '/v1/object/upload', body, headers: { 'content-type': contentType }, sink: 'buffer' });
  const text = res.body!.toString('utf8');
  if (res.status !== 200) throw new Error(`gateway S3 upload: HTTP ${res.status} ${text.slice(0, 300)}`);
  const up = JSON.parse(text).data.uploadeds[0];
  if (Number(up.size) !== inputs.size) throw new Error(`gateway stored ${up.size} bytes, sent ${inputs.size}`);
  if (hash && up.fileHash !== hash) throw new Error(`gateway fileHash ${up.fileHash}, expected ${hash}`);
  return { objectID: Number(up.objectID), afterLastByteMs: res.ms - res.sentMs };
}

/** One download through the gateway (or the relay); with `hash`, the body is kept and checked (warm-up only). */
export async function gatewayDownload(client: BenchClient, objectID: number, size: number, hash?: string, relay?: Record<string, string>): Promise<void> {
  const res = await client.request({
    path: relay ? '/s3relay' : '/v1/object/download',
    query: relay ?? { objectID },
    sink: hash ? 'buffer' : 'discard',
  });
  const what = relay ? 'relay' : 'gateway';
  if (res.status !== 200 || res.bytes !== size) throw new Error(`${what} S3 download: HTTP ${res.status}, ${res.bytes} of ${size} bytes`);
  if (hash) {
    const got = 'Full' + createHash('sha256').update(res.body!).digest('hex').toUpperCase();
    if (got !== hash) throw new Error(`${what} S3 download: content hash ${got}, expected ${hash}`);
  }
}

/** One upload through the minimal relay of the baseline server (busboy, SHA-256, lib-storage). */
async function relayUpload(client: BenchClient, relay: Record<string, string>, size: number, seed: number, hash: string) {
  const { body, contentType } = form(size, seed, {}, 'relay.bin');
  const res = await client.request({ method: 'POST', path: '/s3relay', query: relay, body, headers: { 'content-type': contentType }, sink: 'buffer' });
  const text = res.body!.toString('utf8');
  if (res.status !== 200) throw new Error(`relay S3 upload: HTTP ${res.status} ${text.slice(0, 300)}`);
  const got = JSON.parse(text) as { bytes: number; sha256: string };
  if (got.bytes !== size || 'Full' + got.sha256.toUpperCase() !== hash) throw new Error(`relay S3 upload stored ${text} for ${size} bytes, ${hash}`);
  return { afterLastByteMs: res.ms - res.sentMs };
}

/**
 * The same bytes straight to s3rver with lib-storage (the gateway driver's part size and queue).
 * Returns the time from the generator's last byte to the end, the counterpart of the gateway's
 * afterLastByteMs (there: the client's last byte sent).
 */
async function baselineUpload(s3: S3Client, size: number, seed: number, key = BASELINE_KEY): Promise<{ afterLastByteMs: number }> {
  const body = pseudoRandomStream(size, seed);
  let lastByte = NaN;
  body.once('end', () => (lastByte = performance.now()));
  await new Upload({
    client: s3,
    params: { Bucket: BUCKET, Key: key, Body: body },
    partSize: PART_SIZE,
    queueSize: QUEUE_SIZE,
    leavePartsOnError: false,
  }).done();
  return { afterLastByteMs: performance.now() - lastByte };
}

/**
 * Not the target's baseline: the upload plus what the gateway's shard store must do after it on any
 * S3 backend, as it learns the content address only once the bytes are stored (CopyObject from the
 * temp key to the final one, DeleteObject of the temp key). It says how much of the gap is that
 * server-side copy (on s3rver: a full file copy) rather than the gateway's relaying.
 */
async function baselineUploadCopy(s3: S3Client, size: number, seed: number): Promise<{ afterLastByteMs: number }> {
  const { afterLastByteMs } = await baselineUpload(s3, size, seed, BASELINE_TMP_KEY);
  const t0 = performance.now();
  await s3.send(new CopyObjectCommand({ Bucket: BUCKET, Key: BASELINE_COPIED_KEY, CopySource: `${BUCKET}/${BASELINE_TMP_KEY}` }));
  await s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: BASELINE_TMP_KEY }));
  return { afterLastByteMs: afterLastByteMs + performance.now() - t0 };
}

/** GetObject, the body streamed and counted (and hashed with `hash`, warm-up only). */
async function baselineDownload(s3: S3Client, size: number, hash?: string): Promise<void> {
  const res = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: BASELINE_KEY }));
  const body = res.Body as Readable;
  const h = hash ? createHash('sha256') : undefined;
  let bytes = 0;
  await new Promise<void>((resolve, reject) => {
    body.on('data', (c: Buffer) => {
      bytes += c.length;
      h?.update(c);
    });
    body.once('end', resolve).once('error', reject);
  });
  if (bytes !== size) throw new Error(`baseline S3 download: ${bytes} of ${size} bytes`);
  const got = h && 'Full' + h.digest('hex').toUpperCase();
  if (got !== hash) throw new Error(`baseline S3 download: content hash ${got}, expected ${hash}`);
}

/** Per-side summary: median rate, each round's rate, CPU per GiB of each process involved. */
function summarise(runs: Run[], size: number, hop?: 'gateway' | 'relay') {
  const perGiB = (pick: (r: Run) => number) => round((median(runs.map(pick)) * GiB) / size, 0);
  const rates = runs.map((r) => mbPerSec(size, r.ms));
  return {
    medianMBps: round(median(rates), 1),
    perRoundMBps: rates,
    ...(runs[0]?.afterLastByteMs !== undefined ? { afterLastByteMs: round(median(runs.map((r) => r.afterLastByteMs!)), 0) } : {}),
    ...(hop ? { [`${hop}CpuMsPerGiB`]: perGiB((r) => r.hopCpuMs), [`${hop}PeakRssMiB`]: Math.max(...runs.map((r) => r.hopPeakRssMiB ?? 0)) } : {}),
    s3rverCpuMsPerGiB: perGiB((r) => r.s3rverCpuMs),
    clientCpuMsPerGiB: perGiB((r) => r.clientCpuMs),
  };
}

/** Ratios of runs made in the same round (gateway rate / other rate), and their median. */
function roundRatios(gw: Run[], other: Run[]) {
  const perRound = gw.map((g, i) => ratio(other[i].ms, g.ms));
  return { ratio: round(median(perRound)), perRoundRatio: perRound };
}

type UpKind = 'gateway' | 'baseline' | 'baselineCopy' | 'relay';
type DownKind = 'gateway' | 'baseline' | 'relay';

/**
 * Issue #4: `size` bytes (256 MiB) up and down through a user space on s3rver, against the same
 * transfer made directly with `@aws-sdk/client-s3` against the same s3rver (its own process). Every
 * round uses new content (a new seed, the same for every side), so the gateway really publishes its
 * shard (CopyObject from its temp key, then DeleteObject) instead of finding it already stored.
 * Within a round the order alternates (ABCD, DCBA, ...), uploads then downloads. Two more sides
 * locate the gap, as the upload figure's extra baselines do: the direct upload followed by the copy a
 * shard store needs (baselineCopy), and a minimal Node relay in the baseline server (relay: the cost
 * of any extra hop on these 2 cores).
 */
export async function runS3Space(ctx: BenchContext, size: number) {
  const s3rver = await startS3rverProcess(ctx.env, [BUCKET]);
  const created = await ctx.gw.postJson<{ userSpace: { userSpaceID: number } }>('/v1/userSpace/create', {
    name: 's3 bench',
    storage: { type: 'S3', region: 'us-east-1', endpoint: s3rver.url, bucket: BUCKET, forcePathStyle: true },
    credential: { type: 'S3', accessKeyId: S3RVER_KEY, secretAccessKey: S3RVER_KEY },
    shardStore: { maxSize: 1024 * GiB },
    workingDir: 'jcs',
  });
  const inputs = { packageID: await newPackage(ctx.gw, 'bench-s3', 's3'), userSpaceID: created.userSpace.userSpaceID, size };
  const relay = { endpoint: s3rver.url, bucket: BUCKET, key: RELAY_KEY };
  const s3 = s3Client(s3rver.url);
  const pidsOf = (kind: UpKind | DownKind) => ({
    hop: kind === 'gateway' ? ctx.gateway.pid : kind === 'relay' ? ctx.baseline.pid : undefined,
    s3rver: s3rver.pid,
  });
  try {
    const rounds = ctx.rounds;
    // The expected hashes, computed before anything is timed (and checked on every upload through a hop).
    const hashes: string[] = [];
    for (let i = 0; i <= rounds; i++) hashes.push(await expectedHash(size, SEED0 + i));

    // Unmeasured warm-up (first connections, s3rver's first writes, lazy paths), content checked end to end.
    const warm = await gatewayUpload(ctx.gw, inputs, SEED0, 's3/warm-up.bin', hashes[0]);
    await baselineUpload(s3, size, SEED0);
    await baselineUploadCopy(s3, size, SEED0);
    await relayUpload(ctx.bl, relay, size, SEED0, hashes[0]);
    await gatewayDownload(ctx.gw, warm.objectID, size, hashes[0]);
    await baselineDownload(s3, size, hashes[0]);
    await gatewayDownload(ctx.bl, 0, size, hashes[0], relay);
    log(`s3 space warm-up: ${size / MiB} MiB up and down each way, SHA-256 checked (not counted)`);

    const up: Record<UpKind, Run[]> = { gateway: [], baseline: [], baselineCopy: [], relay: [] };
    const down: Record<DownKind, Run[]> = { gateway: [], baseline: [], relay: [] };
    const upKinds: UpKind[] = ['gateway', 'baseline', 'baselineCopy', 'relay'];
    const downKinds: DownKind[] = ['gateway', 'baseline', 'relay'];
    let objectID = warm.objectID;
    for (let r = 0; r < rounds; r++) {
      const seed = SEED0 + 1 + r;
      const hash = hashes[r + 1];
      for (const kind of r % 2 === 0 ? upKinds : [...upKinds].reverse()) {
        // No upload pays for the previous one's writeback (s3rver writes files for every side). Not timed.
        execFileSync('sync');
        const { value, run } = await measured(pidsOf(kind), async () => {
          if (kind === 'gateway') {
            const res = await gatewayUpload(ctx.gw, inputs, seed, `s3/round-${r + 1}.bin`, hash);
            objectID = res.objectID;
            return res;
          }
          if (kind === 'relay') return relayUpload(ctx.bl, relay, size, seed, hash);
          return kind === 'baseline' ? baselineUpload(s3, size, seed) : baselineUploadCopy(s3, size, seed);
        });
        if (kind === 'baseline' || kind === 'baselineCopy') {
          const head = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: kind === 'baseline' ? BASELINE_KEY : BASELINE_COPIED_KEY }));
          if (head.ContentLength !== size) throw new Error(`${kind} stored ${head.ContentLength} bytes, sent ${size}`);
        }
        up[kind].push(run);
        log(
          `s3 upload ${size / MiB} MiB round ${r + 1} ${kind}: ${mbPerSec(size, run.ms)} MB/s (${Math.round(value.afterLastByteMs)} ms after the last byte), CPU ` +
            (kind === 'gateway' || kind === 'relay' ? `${kind} ${Math.round(run.hopCpuMs)} ms, ` : '') +
            `s3rver ${Math.round(run.s3rverCpuMs)} ms, client ${Math.round(run.clientCpuMs)} ms` +
            (run.hopPeakRssMiB ? `, peak RSS ${run.hopPeakRssMiB} MiB` : ''),
        );
      }
      for (const kind of r % 2 === 0 ? downKinds : [...downKinds].reverse()) {
        const id = objectID;
        const { run } = await measured(pidsOf(kind), () =>
          kind === 'gateway' ? gatewayDownload(ctx.gw, id, size) : kind === 'relay' ? gatewayDownload(ctx.bl, 0, size, undefined, relay) : baselineDownload(s3, size),
        );
        down[kind].push(run);
        log(
          `s3 download round ${r + 1} ${kind}: ${mbPerSec(size, run.ms)} MB/s, CPU ` +
            (kind === 'baseline' ? '' : `${kind} ${Math.round(run.hopCpuMs)} ms, `) +
            `s3rver ${Math.round(run.s3rverCpuMs)} ms, client ${Math.round(run.clientCpuMs)} ms`,
        );
      }
    }

    const figure = (runs: Record<string, Run[]>) => {
      const gateway = summarise(runs.gateway, size, 'gateway');
      const baseline = summarise(runs.baseline, size);
      const r = roundRatios(runs.gateway, runs.baseline);
      return {
        gatewayMBps: gateway.medianMBps,
        baselineMBps: baseline.medianMBps,
        ratio: r.ratio,
        ratioOfMedians: ratio(gateway.medianMBps, baseline.medianMBps),
        perRoundRatio: r.perRoundRatio,
        ...(runs.baselineCopy ? { ratioVsBaselineCopy: roundRatios(runs.gateway, runs.baselineCopy).ratio } : {}),
        ratioVsRelay: roundRatios(runs.gateway, runs.relay).ratio,
        /** The minimal relay against the direct baseline: what any extra hop costs here. */
        relayRatio: roundRatios(runs.relay, runs.baseline).ratio,
        gateway,
        baseline,
        ...(runs.baselineCopy ? { baselineCopy: summarise(runs.baselineCopy, size) } : {}),
        relay: summarise(runs.relay, size, 'relay'),
      };
    };
    const upload = figure(up);
    const download = figure(down);
    const result = { bytes: size, rounds, uploadRatio: upload.ratio, downloadRatio: download.ratio, upload, download };
    log(
      `s3 space: upload ${upload.gatewayMBps} vs ${upload.baselineMBps} MB/s (ratio ${upload.ratio}; relay ${upload.relayRatio}), ` +
        `download ${download.gatewayMBps} vs ${download.baselineMBps} MB/s (ratio ${download.ratio}; relay ${download.relayRatio})`,
    );
    const targets: TargetCheck[] = [check('s3Space.uploadRatio', result.uploadRatio, '>=', 0.7, 4), check('s3Space.downloadRatio', result.downloadRatio, '>=', 0.7, 4)];
    return { result, targets, inputs: { ...inputs, objectID } satisfies S3SpaceInputs };
  } finally {
    s3.destroy();
  }
}
