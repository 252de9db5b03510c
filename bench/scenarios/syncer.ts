import { execFile, spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, readdirSync, rmSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { check, type BenchContext, type TargetCheck } from '../context.js';
import { cpuMs } from '../cpu.js';
import { prng, pseudoRandomBytes, pseudoRandomStream } from '../data.js';
import type { BenchClient } from '../http-client.js';
import { log, repoRoot, type Service } from '../processes.js';
import { RssMonitor } from '../rss.js';
import { S3RVER_KEY } from '../s3-client.js';
import { startS3rverProcess } from '../s3rver-process.js';
import { mbPerSec, median, MiB, ratio, round } from '../stats.js';

const run = promisify(execFile);
const KiB = 1024;
const BUCKET = 'bench-sync';
const workerMain = path.join(repoRoot, 'dist/apps/worker/src/main.js');
const DIFF = { type: 'Diff', includeSize: true, includeModTime: true };

/**
 * Issue #10's figures: the space syncer against `rclone copy` (Debian's rclone 1.60, default
 * --transfers 4 --checkers 8; the syncer's default concurrency is 4 too), in the same run, on the same
 * trees. Sides alternate (gateway first in odd rounds, rclone first in even ones).
 *
 * - `smallFiles`: N files of 4-64 KiB (N = BENCH_SYNC_FILES, default 10,000), Local→Local and
 *   Local→S3 (s3rver, its own process): a first Diff run (size and time) into an empty destination,
 *   then a no-op Diff pass, each against rclone doing the same into its own destination.
 * - `bigFile`: one file (BENCH_SYNC_BIG_MIB, default 1024) Local→Local, throughput of a first copy.
 * - `rss`: the worker's peak RSS while it copies a tree of BENCH_SYNC_RSS_FILES (default 100,000)
 *   small files Local→Local.
 *
 * The syncer's time is from createTask to the run's end as its row says (endTime − the time of the
 * request), polled every 50 ms; rclone's is its process's wall time.
 */
export async function runSyncer(ctx: BenchContext, opts: { files: number; bigBytes: number; rssFiles: number }) {
  const home = path.join(ctx.env.dataDir, 'tenants', String(ctx.userID));
  const worker = await startWorker(ctx);
  const prevNodeOptions = process.env.NODE_OPTIONS;
  // s3rver lists past 1,000 keys only with the legacy provider (its continuation token uses DES).
  process.env.NODE_OPTIONS = `${prevNodeOptions ?? ''} --openssl-legacy-provider`.trim();
  const s3 = await startS3rverProcess(ctx.env, [BUCKET]).finally(() => {
    if (prevNodeOptions === undefined) delete process.env.NODE_OPTIONS;
    else process.env.NODE_OPTIONS = prevNodeOptions;
  });
  // rclone refuses a custom CA bundle with its own transport; the endpoint is plain http anyway.
  const { AWS_CA_BUNDLE: _ca, ...inherited } = process.env;
  const rcloneEnv = {
    ...inherited,
    RCLONE_CONFIG_BS3_TYPE: 's3',
    RCLONE_CONFIG_BS3_PROVIDER: 'Other',
    RCLONE_CONFIG_BS3_ENDPOINT: s3.url,
    RCLONE_CONFIG_BS3_ACCESS_KEY_ID: S3RVER_KEY,
    RCLONE_CONFIG_BS3_SECRET_ACCESS_KEY: S3RVER_KEY,
    RCLONE_CONFIG_BS3_FORCE_PATH_STYLE: 'true',
  };
  const rcloneVersion = (await run('rclone', ['version'], { env: rcloneEnv })).stdout.split('\n')[0];
  /** rclone's wall time, and with the `sync` that makes its copy durable (the syncer fsyncs every file it writes; rclone none). */
  const rcloneRun = async (src: string, dst: string) => {
    const t0 = performance.now();
    await run('rclone', ['copy', '--config', '/dev/null', src, dst], { env: rcloneEnv, maxBuffer: 16 * MiB });
    const ms = performance.now() - t0;
    await run('sync');
    return { ms, durableMs: performance.now() - t0 };
  };
  const rclone = async (src: string, dst: string) => (await rcloneRun(src, dst)).ms;

  const space = async (name: string, storage: Record<string, unknown>, credential: Record<string, unknown> = { type: 'Local' }) =>
    (await again(() => ctx.gw.postJson<{ userSpace: { userSpaceID: number } }>('/v1/userSpace/create', { name, storage, credential, shardStore: null, workingDir: '.jcs' }))).userSpace.userSpaceID;
  const s3Storage = { type: 'S3', region: 'us-east-1', endpoint: s3.url, bucket: BUCKET, forcePathStyle: true };
  const s3Credential = { type: 'S3', accessKeyId: S3RVER_KEY, secretAccessKey: S3RVER_KEY };

  // --- small files ---
  log(`syncer: writing ${opts.files} files of 4-64 KiB`);
  const smallBytes = writeSmallTree(path.join(home, 'small-src'), opts.files, 1000);
  const srcId = await space('sync-small-src', { type: 'Local', rootDir: 'small-src' });
  const localDst = await space('sync-small-dst', { type: 'Local', rootDir: 'small-dst' });
  const s3Dst = await space('sync-s3-dst', s3Storage, s3Credential);
  const rounds = Math.max(1, Math.min(ctx.rounds, Number(process.env.BENCH_SYNC_ROUNDS ?? 2)));
  const side = () => ({ first: [] as number[], noop: [] as number[], rcloneFirst: [] as number[], rcloneDurableFirst: [] as number[], rcloneNoop: [] as number[], workerCpuMs: [] as number[] });
  const sides = { local: side(), s3: side() };
  for (let r = 0; r < rounds; r++) {
    for (const target of ['local', 's3'] as const) {
      const destPath = `r${r}`;
      const rcloneDst = target === 'local' ? path.join(home, 'rclone-dst', `r${r}`) : `bs3:${BUCKET}/rclone/r${r}`;
      const body = { srcUserSpaceID: srcId, srcPath: '', destUserSpaceIDs: [target === 'local' ? localDst : s3Dst], destPathes: [destPath] };
      const gw = async (label: string) => {
        const c0 = cpuMs(worker.pid);
        const res = await syncOnce(ctx.gw, body);
        sides[target].workerCpuMs.push(cpuMs(worker.pid) - c0);
        log(`syncer ${target} ${label} r${r}: ${round(res.ms, 0)} ms (${res.run.filesCopied} copied, ${res.run.filesSkipped} skipped)`);
        if (res.run.state !== 'Succeeded' || res.run.filesFailed) throw new Error(`sync run failed: ${JSON.stringify(res.run).slice(0, 500)}`);
        return res.ms;
      };
      const rc = async (label: string) => {
        const { ms, durableMs } = await rcloneRun(path.join(home, 'small-src'), rcloneDst);
        log(`rclone ${target} ${label} r${r}: ${round(ms, 0)} ms (${round(durableMs, 0)} ms with sync)`);
        if (label === 'first') sides[target].rcloneDurableFirst.push(durableMs);
        return ms;
      };
      const order = r % 2 === 0 ? ['gw', 'rc'] : ['rc', 'gw'];
      for (const side of order) {
        if (side === 'gw') sides[target].first.push(await gw('first'));
        else sides[target].rcloneFirst.push(await rc('first'));
      }
      for (const side of order) {
        if (side === 'gw') sides[target].noop.push(await gw('no-op'));
        else sides[target].rcloneNoop.push(await rc('no-op'));
      }
    }
  }
  const summary = (s: (typeof sides)['local']) => ({
    firstRunMs: round(median(s.first), 0),
    rcloneFirstMs: round(median(s.rcloneFirst), 0),
    firstRatio: ratio(median(s.first), median(s.rcloneFirst)),
    rcloneDurableFirstMs: round(median(s.rcloneDurableFirst), 0),
    firstRatioVsDurableRclone: ratio(median(s.first), median(s.rcloneDurableFirst)),
    noopMs: round(median(s.noop), 0),
    rcloneNoopMs: round(median(s.rcloneNoop), 0),
    noopRatio: ratio(median(s.noop), median(s.rcloneNoop)),
    filesPerSecFirst: round(opts.files / (median(s.first) / 1000), 0),
    workerCpuMsPerRun: round(median(s.workerCpuMs), 0),
  });
  const smallFiles = { files: opts.files, bytes: smallBytes, rounds, local: summary(sides.local), s3: summary(sides.s3) };
  rmSync(path.join(home, 'rclone-dst'), { recursive: true, force: true });

  // --- one big file ---
  log(`syncer: one ${opts.bigBytes / MiB} MiB file Local→Local`);
  const bigSrc = path.join(home, 'big-src');
  mkdirSync(bigSrc, { recursive: true });
  await pipeline(pseudoRandomStream(opts.bigBytes, 7), createWriteStream(path.join(bigSrc, 'big.bin')));
  const bigId = await space('sync-big-src', { type: 'Local', rootDir: 'big-src' });
  const bigDst = await space('sync-big-dst', { type: 'Local', rootDir: 'big-dst' });
  const big = { gw: [] as number[], rclone: [] as number[], rcloneDurable: [] as number[] };
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? ['gw', 'rc'] : ['rc', 'gw'];
    for (const side of order) {
      await run('sync');
      if (side === 'gw') {
        const res = await syncOnce(ctx.gw, { srcUserSpaceID: bigId, srcPath: '', destUserSpaceIDs: [bigDst], destPathes: [`r${r}`] });
        big.gw.push(res.ms);
        log(`syncer big r${r}: ${mbPerSec(opts.bigBytes, res.ms)} MB/s`);
        rmSync(path.join(home, 'big-dst', `r${r}`), { recursive: true, force: true });
      } else {
        const { ms, durableMs } = await rcloneRun(bigSrc, path.join(home, 'rclone-big', `r${r}`));
        big.rclone.push(ms);
        big.rcloneDurable.push(durableMs);
        log(`rclone big r${r}: ${mbPerSec(opts.bigBytes, ms)} MB/s (${mbPerSec(opts.bigBytes, durableMs)} MB/s with sync)`);
        rmSync(path.join(home, 'rclone-big'), { recursive: true, force: true });
      }
    }
  }
  rmSync(bigSrc, { recursive: true, force: true });
  const bigFile = {
    bytes: opts.bigBytes,
    gatewayMBps: mbPerSec(opts.bigBytes, median(big.gw)),
    rcloneMBps: mbPerSec(opts.bigBytes, median(big.rclone)),
    ratio: ratio(median(big.rclone), median(big.gw)),
    rcloneDurableMBps: mbPerSec(opts.bigBytes, median(big.rcloneDurable)),
    ratioVsDurableRclone: ratio(median(big.rcloneDurable), median(big.gw)),
  };

  // --- worker RSS on a large tree ---
  // The destination starts as hard links of the source (same size and time: what an earlier run left)
  // minus every 100th file, so the run marches both 100,000-entry listings and copies 1%.
  log(`syncer: writing ${opts.rssFiles} files for the RSS figure`);
  const rssSrcRoot = path.join(home, 'rss-src');
  const rssDstRoot = path.join(home, 'rss-dst');
  writeSmallTree(rssSrcRoot, opts.rssFiles, 1000, 256, 2 * KiB, false);
  await run('cp', ['-al', rssSrcRoot, rssDstRoot]);
  let missing = 0;
  for (const dir of readdirSync(rssDstRoot))
    for (const f of readdirSync(path.join(rssDstRoot, dir)))
      if (Number(f.slice(1, 7)) % 100 === 0) {
        unlinkSync(path.join(rssDstRoot, dir, f));
        missing++;
      }
  const rssSrc = await space('sync-rss-src', { type: 'Local', rootDir: 'rss-src' });
  const rssDst = await space('sync-rss-dst', { type: 'Local', rootDir: 'rss-dst' });
  const monitor = new RssMonitor(worker.pid).start();
  const rssRun = await syncOnce(ctx.gw, { srcUserSpaceID: rssSrc, srcPath: '', destUserSpaceIDs: [rssDst], destPathes: [''] });
  const rssReport = monitor.stop();
  if (rssRun.run.filesCopied !== missing) throw new Error(`RSS run copied ${rssRun.run.filesCopied} files, expected ${missing}`);
  const rss = {
    files: opts.rssFiles,
    filesCopied: rssRun.run.filesCopied,
    runMs: round(rssRun.ms, 0),
    workerPeakRssMiB: Math.max(rssReport.peakSampledMiB, rssReport.peakHwmMiB ?? 0),
    workerRssAtStartMiB: rssReport.startMiB,
  };
  log(`syncer rss: ${rss.files} files (${rss.filesCopied} copied) in ${rss.runMs} ms, worker peak ${rss.workerPeakRssMiB} MiB`);
  rmSync(rssSrcRoot, { recursive: true, force: true });
  rmSync(rssDstRoot, { recursive: true, force: true });

  await ctx.env.stop(s3);
  await ctx.env.stop(worker);
  const targets: TargetCheck[] = [
    check('syncer.smallFiles.local.firstRatio', smallFiles.local.firstRatio, '<=', 1.0),
    check('syncer.smallFiles.local.noopRatio', smallFiles.local.noopRatio, '<=', 1.0),
    check('syncer.smallFiles.s3.firstRatio', smallFiles.s3.firstRatio, '<=', 1.0),
    check('syncer.smallFiles.s3.noopRatio', smallFiles.s3.noopRatio, '<=', 1.0),
    check('syncer.bigFile.ratio', bigFile.ratio, '>=', 0.9),
    check('syncer.rss.workerPeakRssMiB', rss.workerPeakRssMiB, '<=', 200),
  ];
  return { targets, result: { rclone: rcloneVersion, smallFiles, bigFile, rss } };
}

/** The worker as `npm run start:worker` runs it, on the bench's database, data folder and queues. */
async function startWorker(ctx: BenchContext): Promise<Service> {
  const logFile = path.join(ctx.env.root, 'worker.log');
  // BENCH_SYNC_CPU_PROF=dir: the worker writes a V8 CPU profile there when it stops.
  const prof = process.env.BENCH_SYNC_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_SYNC_CPU_PROF}`] : [];
  // As `npm run start:worker` starts it (its old-space bound keeps the garbage of a long march from
  // inflating RSS); BENCH_SYNC_WORKER_FLAGS replaces the flags.
  const flags = (process.env.BENCH_SYNC_WORKER_FLAGS ?? '--max-old-space-size=192').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...flags, ...prof, workerMain], {
    cwd: repoRoot,
    env: { ...process.env, DATABASE_URL: ctx.env.databaseUrl, JCS_DATA_DIR: ctx.env.dataDir, LOG_LEVEL: 'warn', JCS_QUEUE_PREFIX: `jcs-${ctx.env.dbName}` },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out = createWriteStream(logFile, { flags: 'a' });
  child.stderr!.pipe(out);
  const service: Service = { name: 'worker', url: '', child, pid: child.pid!, logFile };
  ctx.env.adopt(service);
  await new Promise<void>((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`worker did not start: ${seen.slice(-1000)}`)), 60_000);
    child.stdout!.on('data', (d) => {
      out.write(d);
      seen += d;
      if (seen.includes('worker started')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => reject(new Error(`worker exited with ${code}: ${seen.slice(-1000)}`)));
  });
  log(`worker pid ${service.pid}`);
  return service;
}

/** createTask (Once, Diff on size and time) and wait for its run's end; the time is the run's own end minus the request's start. */
/**
 * The first request after a long busy stretch of the bench process (writing a tree synchronously) may
 * meet a keep-alive socket the gateway closed meanwhile: try once more.
 */
const again = async <T>(call: () => Promise<T>): Promise<T> => call().catch((e: Error) => (/socket hang up|ECONNRESET/.test(e.message) ? call() : Promise.reject(e)));

async function syncOnce(client: BenchClient, body: Record<string, unknown>) {
  const t0 = Date.now();
  const { task } = await again(() => client.postJson<{ task: { taskID: number } }>('/v1/spaceSyncer/createTask', { trigger: { type: 'Once' }, mode: DIFF, filters: [], ...body }));
  for (;;) {
    const { task: t } = await again(() => client.json<{ task: { state: string; lastRun: any } }>({ method: 'GET', path: '/v1/spaceSyncer/getTask', query: { taskID: task.taskID } }));
    if (t.lastRun && t.lastRun.endTime && t.state !== 'Running') return { ms: Date.parse(t.lastRun.endTime) - t0, run: t.lastRun };
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** `count` files of `min`-`max` bytes in folders of `perFolder`, all with one past mtime; returns the bytes written. */
function writeSmallTree(root: string, count: number, perFolder: number, min = 4 * KiB, max = 64 * KiB, pastTime = true): number {
  const rand = prng(42);
  const pool = pseudoRandomBytes(max, 9);
  const mtime = new Date('2024-01-02T03:04:05.678Z');
  let bytes = 0;
  for (let i = 0; i < count; i++) {
    const dir = path.join(root, `d${String(Math.floor(i / perFolder)).padStart(4, '0')}`);
    if (i % perFolder === 0) mkdirSync(dir, { recursive: true });
    const size = min + Math.floor(rand() * (max - min + 1));
    const file = path.join(dir, `f${String(i).padStart(6, '0')}.bin`);
    // Different content per file (an offset into the pool) so nothing can be deduplicated.
    const off = Math.floor(rand() * (max - size + 1));
    writeFileSync(file, pool.subarray(off, off + size));
    if (pastTime) utimesSync(file, mtime, mtime);
    bytes += size;
  }
  return bytes;
}


