import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { check, type BenchContext, type TargetCheck } from './context.js';
import { BenchClient } from './http-client.js';
import { BenchEnv, log, repoRoot } from './processes.js';
import { profileWorkloads } from './profile-pass.js';
import { peakOf, RssMonitor, rssMiB } from './rss.js';
import { runBigObject } from './scenarios/big-object.js';
import { runCodec } from './scenarios/codec.js';
import { runListing } from './scenarios/listing.js';
import { runRanged } from './scenarios/ranged.js';
import { runRedundantRead } from './scenarios/redundant-read.js';
import { runRedundantWrite } from './scenarios/redundant-write.js';
import { runRequestCost } from './scenarios/request-cost.js';
import { profileS3Endpoint, runS3Endpoint } from './scenarios/s3-endpoint.js';
import { runS3Space } from './scenarios/s3-space.js';
import { runSmallObjects } from './scenarios/small-objects.js';
import { runSyncer } from './scenarios/syncer.js';
import { MiB, round } from './stats.js';

/**
 * `npm run bench`: builds, then measures the built gateway (its own process) against a minimal Node
 * baseline server (its own process) on this machine, in the same run, and prints ONE JSON document on
 * stdout (progress on stderr), also written to bench/results/latest.json.
 *
 * The machine is shared and noisy (2 cores), so absolute figures vary from run to run; the ratios,
 * measured with gateway and baseline interleaved, are the figures to compare.
 *
 * Knobs (env): BENCH_ONLY (comma-separated scenarios, default all: bigObject, ranged, smallObjects,
 * listing, s3Space, requestCost, syncer, redundantRead, redundantWrite, codec, s3Endpoint), BENCH_ROUNDS (5), BENCH_BIG_MIB (1024), BENCH_SMALL_OBJECTS (10000),
 * BENCH_RANGED (1000), BENCH_LIST_REQUESTS (50), BENCH_S3_MIB (256), BENCH_REQUESTS (800, requestCost), BENCH_S3E_MIB (1024), BENCH_S3E_ROUNDS (3), BENCH_S3E_SMALL (800, s3Endpoint), BENCH_PROFILE (missed | all | none; default missed), BENCH_OUTPUT
 * (default bench/results/latest.json), BENCH_DATABASE_URL (maintenance DB, default
 * postgres://postgres@127.0.0.1:5432/postgres), BENCH_TMPDIR.
 */
const num = (name: string, def: number) => (process.env[name] ? Number(process.env[name]) : def);

function gitInfo() {
  try {
    const commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: repoRoot, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: repoRoot, encoding: 'utf8' }).trim().length > 0;
    return { commit, dirty };
  } catch {
    return { commit: null, dirty: null };
  }
}

/** The scenarios, in the order they run; `ranged` reads the big object, so it brings `bigObject` along. */
const SCENARIOS = ['bigObject', 'ranged', 'smallObjects', 'listing', 's3Space', 'requestCost', 'syncer', 'redundantRead', 'redundantWrite', 'codec', 's3Endpoint'] as const;
type Scenario = (typeof SCENARIOS)[number];

/** BENCH_ONLY=a,b: only those scenarios (and what they depend on); unset: all of them. */
function selectedScenarios(): Set<Scenario> {
  const only = process.env.BENCH_ONLY?.split(',').map((s) => s.trim()).filter(Boolean);
  if (!only?.length) return new Set(SCENARIOS);
  const unknown = only.filter((s) => !(SCENARIOS as readonly string[]).includes(s));
  if (unknown.length) throw new Error(`BENCH_ONLY: unknown scenario(s) ${unknown.join(', ')}; known: ${SCENARIOS.join(', ')}`);
  const picked = new Set(only as Scenario[]);
  if (picked.has('ranged')) picked.add('bigObject');
  return picked;
}

/** The scenario a target's figure comes from (its first path segment). */
const SCENARIO_OF_FIGURE: Record<string, Scenario> = {
  upload: 'bigObject',
  download: 'bigObject',
  ranged: 'ranged',
  smallObjects: 'smallObjects',
  listing: 'listing',
  s3Space: 's3Space',
  requestCost: 'requestCost',
  syncer: 'syncer',
  redundantRead: 'redundantRead',
  codec: 'codec',
  redundantWrite: 'redundantWrite',
  s3Endpoint: 's3Endpoint',
};

/** Issue 8's targets, all listed in every run (a scenario left out by BENCH_ONLY shows `ran: false`). */
const ISSUE8_TARGETS: Array<[figure: string, target: string]> = [
  ['requestCost.upload.concurrency1.ratio', '>= 0.5'],
  ['requestCost.upload.concurrency16.ratio', '>= 0.5'],
  ['requestCost.download.concurrency1.ratio', '>= 0.6'],
  ['requestCost.download.concurrency16.ratio', '>= 0.6'],
  ['ranged.p50Ratio', '<= 2'],
  ['requestCost.listAll.concurrency1.p50Ratio', '<= 2'],
  ['requestCost.listByPath.concurrency1.p50Ratio', '<= 2'],
  ['upload.ratio', '>= 0.8'],
  ['download.ratio', '>= 0.9'],
  ['peakRssMiB', '<= 200'],
];

/** Which profiling workload explains which missed target. */
const WORKLOAD_OF: Record<string, string> = {
  'upload.ratio': 'upload',
  'upload.gatewayPeakRssMiB': 'upload',
  'download.ratio': 'download',
  'ranged.gateway.p50Ms': 'ranged',
  'smallObjects.gatewayBestObjectsPerSec': 'smallObjects',
  'listing.flatFirstPage.gateway.p50Ms': 'listing',
  /** Not an issue #3 target: profiled with BENCH_PROFILE=all only. */
  'listing.noRecursiveRoot': 'listingNoRecursive',
  's3Space.uploadRatio': 's3SpaceUpload',
  's3Space.downloadRatio': 's3SpaceDownload',
  'ranged.p50Ratio': 'ranged',
  'requestCost.upload.concurrency1.ratio': 'smallUpload',
  'requestCost.upload.concurrency16.ratio': 'smallUpload',
  'requestCost.download.concurrency1.ratio': 'smallDownload',
  'requestCost.download.concurrency16.ratio': 'smallDownload',
  'requestCost.listAll.concurrency1.p50Ratio': 'listAll',
  'requestCost.listByPath.concurrency1.p50Ratio': 'listByPath',
};

/**
 * Runs one scenario while sampling the gateway's RSS (bench/rss.ts; monitors nest, so the scenario's
 * own per-upload monitors do not hide its peak), and records the peak against issue 8's 200 MiB.
 */
async function withRss<T extends { result: object; targets: TargetCheck[] }>(ctx: BenchContext, name: Scenario, run: () => Promise<T>) {
  const rss = new RssMonitor(ctx.gateway.pid).start();
  const out = await run();
  const r = rss.stop();
  const peakRssMiB = peakOf(r);
  const rssCheck = check(`${name}.peakRssMiB`, peakRssMiB, '<=', 200, 8);
  log(`${name}: gateway peak RSS ${peakRssMiB} MiB`);
  return { ...out, peakRssMiB, targets: [...out.targets, rssCheck], result: { ...out.result, peakRssMiB, peakRssTarget: rssCheck.target, peakRssMet: rssCheck.met, gatewayRss: r, targets: [...out.targets, rssCheck] } };
}

async function main(): Promise<void> {
  const t0 = performance.now();
  const only = selectedScenarios();
  const env = new BenchEnv();
  let ctx: BenchContext | undefined;
  const interrupted = (sig: string) => {
    log(`${sig}: cleaning up`);
    void env.dispose().finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  try {
    await env.createDatabase();
    log(`database ${env.dbName}, temp dir ${env.root}`);
    const gateway = await env.startGateway();
    const baseline = await env.startBaseline();
    const admin = env.adminCredentials();
    ctx = {
      env,
      gateway,
      baseline,
      gw: new BenchClient(gateway.url, admin),
      bl: new BenchClient(baseline.url, admin),
      userID: admin.userID,
      rounds: num('BENCH_ROUNDS', 5),
      bigSize: num('BENCH_BIG_MIB', 1024) * MiB,
    };
    const gatewayIdleRssMiB = rssMiB(gateway.pid);
    const baselineIdleRssMiB = rssMiB(baseline.pid);
    log(`gateway pid ${gateway.pid} at ${gateway.url} (RSS ${gatewayIdleRssMiB} MiB), baseline pid ${baseline.pid} at ${baseline.url}`);

    if (only.size < SCENARIOS.length) log(`BENCH_ONLY: ${[...only].join(', ')}`);
    const c = ctx;
    const big = only.has('bigObject') ? await withRss(c, 'bigObject', () => runBigObject(c)) : undefined;
    const ranged = only.has('ranged') ? await withRss(c, 'ranged', () => runRanged(c, big!.object, num('BENCH_RANGED', 1000))) : undefined;
    const small = only.has('smallObjects') ? await withRss(c, 'smallObjects', () => runSmallObjects(c, num('BENCH_SMALL_OBJECTS', 10_000))) : undefined;
    const listing = only.has('listing') ? await withRss(c, 'listing', () => runListing(c, num('BENCH_LIST_REQUESTS', 50))) : undefined;
    const s3Space = only.has('s3Space') ? await withRss(c, 's3Space', () => runS3Space(c, num('BENCH_S3_MIB', 256) * MiB)) : undefined;
    const requestCost = only.has('requestCost') ? await withRss(c, 'requestCost', () => runRequestCost(c, num('BENCH_REQUESTS', 800))) : undefined;
    const syncer = only.has('syncer')
      ? await withRss(c, 'syncer', () => runSyncer(c, { files: num('BENCH_SYNC_FILES', 10_000), bigBytes: num('BENCH_SYNC_BIG_MIB', 1024) * MiB, rssFiles: num('BENCH_SYNC_RSS_FILES', 100_000) }))
      : undefined;
    const redundantRead = only.has('redundantRead') ? await withRss(c, 'redundantRead', () => runRedundantRead(c, num('BENCH_EC_RANGED', 500))) : undefined;
    // In the bench process, no server involved: the gateway's codec kernel and worker pool (issue 9).
    const codec = only.has('codec') ? await runCodec() : undefined;
    const redundantWrite = only.has('redundantWrite')
      ? await withRss(c, 'redundantWrite', () => runRedundantWrite(c, num('BENCH_EC_PARALLEL_MIB', 128) * MiB))
      : undefined;
    const s3Endpoint = only.has('s3Endpoint')
      ? await withRss(c, 's3Endpoint', () => runS3Endpoint(c, { bigBytes: num('BENCH_S3E_MIB', 1024) * MiB, rounds: num('BENCH_S3E_ROUNDS', 3), smallObjects: num('BENCH_S3E_SMALL', 800) }))
      : undefined;
    const gatewayRssAfterMiB = rssMiB(ctx.gateway.pid);
    const measuredSeconds = round((performance.now() - t0) / 1000, 1);

    const ranScenarios = [big, ranged, small, listing, s3Space, requestCost, syncer, redundantRead, redundantWrite, s3Endpoint].filter((s) => s !== undefined);
    const checks: TargetCheck[] = ranScenarios.flatMap((s) => s.targets);
    const peakRssMiB = Math.max(...ranScenarios.map((s) => s.peakRssMiB));
    const rssOverall = check('peakRssMiB', peakRssMiB, '<=', 200, 8);
    // Issue 8's list, in its order; one not measured in this run (BENCH_ONLY) is listed as not run.
    const targets: Array<TargetCheck & { ran: boolean }> = ISSUE8_TARGETS.map(([figure, target]) => {
      const found = figure === 'peakRssMiB' ? rssOverall : checks.find((t) => t.issue === 8 && t.figure === figure);
      return found ? { ...found, ran: true } : { figure, value: null, target, met: false, issue: 8, ran: false };
    });
    const earlierTargets = checks.filter((t) => t.issue !== 8 && t.issue !== 11);
    // Issue 11's S3 endpoint targets, with profiles of the misses (on their own profiled gateway, before the
    // issue-8 profiling pass restarts the measured one).
    const s3Targets = checks.filter((t) => t.issue === 11);
    const s3Mode = process.env.BENCH_PROFILE ?? 'missed';
    const s3Profiles =
      s3Endpoint && s3Mode !== 'none' && s3Mode !== '0'
        ? await profileS3Endpoint(ctx, s3Targets.filter((t) => s3Mode === 'all' || !t.met).map((t) => t.figure), { bigBytes: num('BENCH_S3E_MIB', 1024) * MiB, smallObjects: Math.min(400, num('BENCH_S3E_SMALL', 800)) })
        : {};
    const mode = process.env.BENCH_PROFILE ?? 'missed';
    const ran = (figure: string) => only.has(SCENARIO_OF_FIGURE[figure.split('.')[0]]);
    const workloads = new Set(
      mode === 'all'
        ? Object.entries(WORKLOAD_OF).filter(([figure]) => ran(figure)).map(([, w]) => w)
        : mode === 'none' || mode === '0'
          ? []
          : [...targets.filter((t) => t.ran), ...earlierTargets].filter((t) => !t.met && WORKLOAD_OF[t.figure]).map((t) => WORKLOAD_OF[t.figure]),
    );
    const profiles = workloads.size
      ? await profileWorkloads(ctx, workloads, {
          bigPackageID: big?.bigPackageID,
          object: big?.object,
          flatPackageID: listing?.packages.flat,
          treePackageID: listing?.packages.tree,
          s3Space: s3Space?.inputs,
          requestCost: requestCost?.inputs,
        })
      : {};

    const doc = {
      benchmark: 'jcs-gateway vs minimal Node baseline, same machine, same run',
      date: new Date().toISOString(),
      git: gitInfo(),
      machine: { node: process.version, platform: `${os.platform()} ${os.release()}`, cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, memoryMiB: Math.round(os.totalmem() / MiB) },
      durationSeconds: round((performance.now() - t0) / 1000, 1),
      measuredSeconds,
      settings: { rounds: ctx.rounds, bigObjectBytes: ctx.bigSize, s3ObjectBytes: s3Space?.result.bytes, scenarios: [...only], profile: mode },
      /** Issue 8's targets (each figure also carries its own target and `met`). */
      targets,
      allTargetsMet: targets.every((t) => t.met),
      peakRssMiB: { value: peakRssMiB, target: rssOverall.target, met: rssOverall.met, perScenario: { bigObject: big?.peakRssMiB, ranged: ranged?.peakRssMiB, smallObjects: small?.peakRssMiB, listing: listing?.peakRssMiB, s3Space: s3Space?.peakRssMiB, requestCost: requestCost?.peakRssMiB } },
      /** Targets of earlier issues (3: the first benchmark, 4: S3 spaces), still measured. */
      earlierTargets,
      figures: {
        upload: big?.result.upload,
        download: big?.result.download,
        rangedReads: ranged?.result,
        smallObjects: small?.result,
        listing: listing?.result,
        s3Space: s3Space?.result,
        requestCost: requestCost?.result,
        syncer: syncer?.result,
        redundantRead: redundantRead?.result,
        codec: codec?.result,
        redundantWrite: redundantWrite?.result,
        s3Endpoint: s3Endpoint?.result,
        gatewayRssMiB: { idleAfterStart: gatewayIdleRssMiB, afterScenarios: gatewayRssAfterMiB },
        baselineIdleRssMiB,
      },
      /** Issue 11's targets: the S3 endpoint against the plain server. */
      s3EndpointTargets: s3Targets,
      profiles: { ...profiles, ...s3Profiles },
      notes: [
        'MB = 10^6 bytes. Ratios are gateway/baseline (throughput: higher is better; latency: lower is better).',
        'Big-object throughput: gateway and baseline alternate within each round (ABCD, DCBA, ...); "ratio" is the median of the per-round ratios (runs adjacent in time), "ratioOfMedians" divides the medians; one unmeasured warm-up upload per server precedes the rounds, and `sync` runs (untimed) before each upload so none pays for earlier writeback. Ranged reads and listings alternate gateway/baseline request by request.',
        'serverCpuMs*: CPU time (user+system, all threads) of the server process from /proc/<pid>/stat for the work measured; PostgreSQL\'s CPU is not included. On this shared 2-core machine CPU per unit of work is steadier than wall time. clientCpuMsPerGiB is the bench process itself (it shares the cores).',
        'Client: one Node http.request client with keep-alive agents for both servers, every request SigV4-signed (streamed bodies UNSIGNED-PAYLOAD); it runs on the same 2 cores as the servers.',
        'Upload data: AES-128-CTR keystream generated on the fly in 1 MiB chunks (~5 GB/s, so the client is not the bottleneck), sent as the same chunked multipart/form-data body to both servers.',
        'Upload baseline ("baselineMBps", the target\'s): a Node http server writing the raw request body to a temp file, fsync, rename, fsync of the folder (the gateway Local driver policy). Two more baselines locate the gap: "baselineMultipart" also parses the body with busboy, "baselineMultipartSha256" also hashes the file bytes with SHA-256 on the main thread (the gateway\'s fileHash needs it).',
        "Download and ranged baselines: the same Node server streaming the gateway's own shard file with fs.createReadStream (highWaterMark 1 MiB), Range supported; data in the page cache for both.",
        'Small objects baseline: the same multipart bodies parsed with busboy, each file written with the same fsync policy, one part at a time; no metadata is stored.',
        'Listing: the 2 × 100,000 object rows were inserted directly with SQL (INSERT ... SELECT generate_series) into `objects` of the bench tenant (dummy file_hash, no object_blocks rows, no shard files), then VACUUM ANALYZE. Listing baseline: one keyset SQL query (path >= prefix ORDER BY path LIMIT 1000) through pg, rows sent as JSON; it does no delimiter grouping, so the noRecursive ratios compare against a plain 1,000-row (resp. 100-row) page.',
        'S3 space (issue #4): s3rver in its own process (bench/s3rver-server.ts), one bucket. Gateway: the object uploaded through /v1/object/upload with affinity to an S3 user space on that s3rver (lib-storage multipart to a temp key, then CopyObject to its content address and DeleteObject), then downloaded with /v1/object/download. Baseline: the same bytes uploaded from the bench process with @aws-sdk/lib-storage Upload (partSize 8 MiB, queueSize 2, the S3 driver\'s client settings) and downloaded with GetObjectCommand (body streamed, bytes counted). New content every round (same seed on both sides), so the gateway never skips publishing a shard it already has; uploads and downloads alternate gateway/baseline within each round, after one unmeasured warm-up whose content is SHA-256 checked. The baseline\'s client work runs in the bench process (clientCpuMsPerGiB); s3rverCpuMsPerGiB is the s3rver process for each side. Two more sides locate the gap: baselineCopy (the direct upload, then the same CopyObject + DeleteObject a shard store needs) and relay (a minimal Node relay in the baseline server: busboy + SHA-256 + lib-storage up, GetObject piped down); relayRatio = relay/baseline is what any extra hop costs on this machine.',
        'Peak RSS: max of VmRSS sampled every 50 ms and VmHWM after resetting it (echo 5 > /proc/<pid>/clear_refs) at the start of each upload.',
        'Profiles (if any) come from a separate pass after the measured ones, on a gateway restarted with a V8 CPU profiler (250 µs sampling), with shorter workloads; their percentages are of the main thread\'s non-idle time.',
      ],
    };
    const json = JSON.stringify(doc, null, 2);
    const outFile = process.env.BENCH_OUTPUT ?? path.join(repoRoot, 'bench/results/latest.json');
    mkdirSync(path.dirname(outFile), { recursive: true });
    writeFileSync(outFile, json + '\n');
    process.stdout.write(json + '\n');
    log(`done in ${doc.durationSeconds} s; written to ${path.relative(process.cwd(), outFile) || outFile}`);
  } finally {
    ctx?.gw.close();
    ctx?.bl.close();
    await env.dispose();
  }
}

main().catch((e: Error) => {
  log(`bench failed: ${e.stack ?? e.message}`);
  process.exit(1);
});
