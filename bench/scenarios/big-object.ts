import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { multipartBody } from '../../test/support/multipart.js';
import { check, newPackage, type BenchContext, type TargetCheck } from '../context.js';
import { pseudoRandomStream } from '../data.js';
import type { BenchClient } from '../http-client.js';
import { cpuMs } from '../cpu.js';
import { log } from '../processes.js';
import { RssMonitor, type RssReport } from '../rss.js';
import { GiB, mbPerSec, median, MiB, ratio, round } from '../stats.js';

const SEED = 1;
const OBJECT_PATH = 'big/object.bin';

/** The multipart body the gateway expects; the baseline receives the very same bytes. */
function bigForm(packageID: number, size: number) {
  return multipartBody([
    { name: 'info', value: JSON.stringify({ packageID }) },
    { name: 'files', filename: encodeURIComponent(OBJECT_PATH), data: () => pseudoRandomStream(size, SEED) },
  ]);
}

export interface BigObject {
  objectID: number;
  fileHash: string;
  size: number;
  /** The gateway's shard file on disk: the baseline serves this very file for the download figures. */
  shardFile: string;
}

/**
 * The gateway and three baselines: the raw body to a file (the baseline), the same through
 * busboy, and busboy plus SHA-256 of the bytes (what a content-addressed store cannot skip).
 */
type UploadKind = 'gateway' | 'baselineRaw' | 'baselineMultipart' | 'baselineMultipartSha256';

/** One 1 GiB upload; returns its wall time and the server's peak RSS while it ran. */
export async function uploadBig(client: BenchClient, kind: UploadKind, pid: number, packageID: number, size: number) {
  const { body, contentType } = bigForm(packageID, size);
  const route = kind === 'gateway' ? '/v1/object/upload' : kind === 'baselineRaw' ? '/raw' : '/multipart';
  const query =
    kind === 'baselineRaw'
      ? { name: 'big.bin' }
      : kind === 'baselineMultipart'
        ? { dir: 'big' }
        : kind === 'baselineMultipartSha256'
          ? { dir: 'big', sha256: 1 }
          : undefined;
  // Start every upload with no dirty pages left by the previous one (or by anything else on the
  // machine), so no upload pays for another's writeback. Not timed.
  execFileSync('sync');
  const rss = new RssMonitor(pid).start();
  const cpu0 = cpuMs(pid);
  const client0 = process.cpuUsage();
  const res = await client.request({ method: 'POST', path: route, query, body, headers: { 'content-type': contentType }, sink: 'buffer' });
  const serverCpuMs = cpuMs(pid) - cpu0;
  const c = process.cpuUsage(client0);
  const clientCpuMs = (c.user + c.system) / 1000;
  const mem = rss.stop();
  const text = res.body!.toString('utf8');
  if (res.status !== 200) throw new Error(`${kind} upload: HTTP ${res.status} ${text.slice(0, 300)}`);
  const json = JSON.parse(text);
  let object: Omit<BigObject, 'shardFile'> | undefined;
  if (kind === 'gateway') {
    const up = json.data.uploadeds[0];
    if (Number(up.size) !== size) throw new Error(`gateway stored ${up.size} bytes, sent ${size}`);
    object = { objectID: up.objectID, fileHash: up.fileHash, size };
  } else if (kind === 'baselineRaw' ? json.size < size : json.bytes !== size) {
    throw new Error(`${kind} stored ${JSON.stringify(json)} for ${size} bytes`);
  }
  return { ms: res.ms, sentMs: res.sentMs, serverCpuMs, clientCpuMs, rss: mem, object };
}

/** One full download, bytes counted and dropped. */
export async function downloadBig(client: BenchClient, kind: 'gateway' | 'baseline', pid: number, obj: BigObject) {
  const spec =
    kind === 'gateway'
      ? { path: '/v1/object/download', query: { objectID: obj.objectID } }
      : { path: '/file', query: { path: obj.shardFile } };
  const rss = new RssMonitor(pid).start();
  const cpu0 = cpuMs(pid);
  const client0 = process.cpuUsage();
  const res = await client.request({ ...spec, sink: 'discard' });
  const serverCpuMs = cpuMs(pid) - cpu0;
  const c = process.cpuUsage(client0);
  const clientCpuMs = (c.user + c.system) / 1000;
  const mem = rss.stop();
  if (res.status !== 200 || res.bytes !== obj.size) throw new Error(`${kind} download: HTTP ${res.status}, ${res.bytes} of ${obj.size} bytes`);
  return { ms: res.ms, sentMs: res.sentMs, serverCpuMs, clientCpuMs, rss: mem };
}

function findFile(dir: string, name: string): string | undefined {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      const found = findFile(p, name);
      if (found) return found;
    } else if (e.name === name) return p;
  }
  return undefined;
}

const peak = (r: RssReport) => Math.max(r.peakSampledMiB, r.peakHwmMiB ?? 0);

interface Run {
  ms: number;
  sentMs: number;
  serverCpuMs: number;
  /** The bench process (client) over the same request: both share the 2 cores. */
  clientCpuMs: number;
  rss: RssReport;
}

/** Per-server summary of the runs of one operation: median rate, CPU per GiB, each round's rate. */
function summarise(runs: Run[], size: number) {
  const rates = runs.map((r) => mbPerSec(size, r.ms));
  const perGiB = (x: number) => round((x * GiB) / size, 0);
  return {
    medianMBps: median(rates),
    perRoundMBps: rates,
    /** CPU (all threads) the server used per GiB: steadier than wall time on a shared machine. */
    serverCpuMsPerGiB: perGiB(median(runs.map((r) => r.serverCpuMs))),
    clientCpuMsPerGiB: perGiB(median(runs.map((r) => r.clientCpuMs))),
    /** Upload: from the client's last body byte to the response (final fsync, rename, commit). */
    afterLastByteMs: round(median(runs.map((r) => r.ms - r.sentMs)), 0),
    peakRssMiB: Math.max(...runs.map((r) => peak(r.rss))),
  };
}

/** Ratios of runs made in the same round (gateway rate / baseline rate), and their median. */
function roundRatios(gw: Run[], bl: Run[]) {
  const perRound = gw.map((g, i) => ratio(bl[i].ms, g.ms));
  return { ratio: median(perRound), perRoundRatio: perRound };
}

/**
 * Figures 1 and 2: a 1 GiB object up and down. Rounds alternate the order (ABCD, DCBA, ...) so drift
 * in the shared machine's load falls on both sides. The headline ratio is the median of the ratios
 * of runs made in the same round (adjacent in time), which cancels slow drift better than a ratio of
 * medians taken minutes apart; both medians are reported too.
 */
export async function runBigObject(ctx: BenchContext) {
  const size = ctx.bigSize;
  const packageID = await newPackage(ctx.gw, 'bench-big', 'big');
  const kinds: UploadKind[] = ['gateway', 'baselineRaw', 'baselineMultipart', 'baselineMultipartSha256'];
  const up: Record<UploadKind, Run[]> = { gateway: [], baselineRaw: [], baselineMultipart: [], baselineMultipartSha256: [] };
  let object: Omit<BigObject, 'shardFile'> | undefined;
  // One unmeasured upload each first: in every run so far the first 1 GiB writes of all three servers
  // were markedly slower (page cache growth, lazy start-up paths), which is not what we measure.
  for (const kind of kinds) {
    const res = await uploadBig(kind === 'gateway' ? ctx.gw : ctx.bl, kind, kind === 'gateway' ? ctx.gateway.pid : ctx.baseline.pid, packageID, size);
    object ??= res.object;
    log(`upload warm-up ${kind}: ${mbPerSec(size, res.ms)} MB/s (not counted)`);
  }
  for (let r = 0; r < ctx.rounds; r++) {
    for (const kind of r % 2 === 0 ? kinds : [...kinds].reverse()) {
      const client = kind === 'gateway' ? ctx.gw : ctx.bl;
      const pid = kind === 'gateway' ? ctx.gateway.pid : ctx.baseline.pid;
      const res = await uploadBig(client, kind, pid, packageID, size);
      up[kind].push(res);
      log(
        `upload ${size / MiB} MiB round ${r + 1} ${kind}: ${mbPerSec(size, res.ms)} MB/s ` +
          `(${Math.round(res.ms - res.sentMs)} ms after the last byte), server CPU ${Math.round(res.serverCpuMs)} ms, peak RSS ${peak(res.rss)} MiB`,
      );
    }
  }
  const shardFile = findFile(ctx.env.dataDir, object!.fileHash);
  if (!shardFile) throw new Error(`the gateway's shard ${object!.fileHash} is not under ${ctx.env.dataDir}`);
  const obj: BigObject = { ...object!, shardFile };

  const down: Record<'gateway' | 'baseline', Run[]> = { gateway: [], baseline: [] };
  for (let r = 0; r < ctx.rounds; r++) {
    for (const kind of r % 2 === 0 ? (['gateway', 'baseline'] as const) : (['baseline', 'gateway'] as const)) {
      const res = await downloadBig(kind === 'gateway' ? ctx.gw : ctx.bl, kind, kind === 'gateway' ? ctx.gateway.pid : ctx.baseline.pid, obj);
      down[kind].push(res);
      log(`download round ${r + 1} ${kind}: ${mbPerSec(size, res.ms)} MB/s, server CPU ${Math.round(res.serverCpuMs)} ms`);
    }
  }

  const gwUp = summarise(up.gateway, size);
  const rawUp = summarise(up.baselineRaw, size);
  const mpUp = summarise(up.baselineMultipart, size);
  const mpShaUp = summarise(up.baselineMultipartSha256, size);
  const gwDown = summarise(down.gateway, size);
  const blDown = summarise(down.baseline, size);
  const upRatio = roundRatios(up.gateway, up.baselineRaw);
  const downRatio = roundRatios(down.gateway, down.baseline);

  const result = {
    upload: {
      bytes: size,
      gatewayMBps: gwUp.medianMBps,
      baselineMBps: rawUp.medianMBps,
      ratio: upRatio.ratio,
      ratioOfMedians: ratio(gwUp.medianMBps, rawUp.medianMBps),
      perRoundRatio: upRatio.perRoundRatio,
      ratioVsBaselineMultipart: roundRatios(up.gateway, up.baselineMultipart).ratio,
      ratioVsBaselineMultipartSha256: roundRatios(up.gateway, up.baselineMultipartSha256).ratio,
      cpuRatio: ratio(gwUp.serverCpuMsPerGiB, rawUp.serverCpuMsPerGiB),
      gatewayPeakRssMiB: gwUp.peakRssMiB,
      gateway: { ...gwUp, rss: up.gateway.map((r) => r.rss) },
      baseline: rawUp,
      baselineMultipart: mpUp,
      baselineMultipartSha256: mpShaUp,
    },
    download: {
      bytes: size,
      gatewayMBps: gwDown.medianMBps,
      baselineMBps: blDown.medianMBps,
      ratio: downRatio.ratio,
      ratioOfMedians: ratio(gwDown.medianMBps, blDown.medianMBps),
      perRoundRatio: downRatio.perRoundRatio,
      cpuRatio: ratio(gwDown.serverCpuMsPerGiB, blDown.serverCpuMsPerGiB),
      gateway: { ...gwDown, afterLastByteMs: undefined },
      baseline: { ...blDown, afterLastByteMs: undefined },
    },
  };
  const targets: TargetCheck[] = [
    check('upload.ratio', result.upload.ratio, '>=', 0.8),
    check('upload.gatewayPeakRssMiB', round(gwUp.peakRssMiB, 1), '<=', 200),
    check('download.ratio', result.download.ratio, '>=', 0.8),
    check('upload.ratio', result.upload.ratio, '>=', 0.8, 8),
    check('download.ratio', result.download.ratio, '>=', 0.9, 8),
  ];
  return { result, targets, object: obj, bigPackageID: packageID };
}
