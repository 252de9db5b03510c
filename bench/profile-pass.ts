import type { ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { newPackage, type BenchContext } from './context.js';
import { BenchClient, type BenchResponse } from './http-client.js';
import { log, type Service } from './processes.js';
import { summariseProfile, type ProfileSummary } from './profile.js';
import { downloadBig, uploadBig, type BigObject } from './scenarios/big-object.js';
import { rangedRead, randomOffsets } from './scenarios/ranged.js';
import { gatewayDownload, gatewayUpload, S3_PROFILE_SEED, type S3SpaceInputs } from './scenarios/s3-space.js';
import { prepareDownloads, prepareMeta, prepareUploads, runLoad, shardFilesOf, type RequestCostInputs } from './scenarios/request-cost.js';
import { smallObjectsRun } from './scenarios/small-objects.js';

function ask(child: ChildProcess, msg: object, replyKey: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const on = (m: Record<string, unknown>) => {
      if (m?.cpuProfileError) {
        child.off('message', on);
        reject(new Error(String(m.cpuProfileError)));
      } else if (m?.[replyKey] !== undefined) {
        child.off('message', on);
        resolve(m[replyKey]);
      }
    };
    child.on('message', on);
    child.send(msg);
  });
}

/** A profile of failing requests would explain nothing: stop instead. */
function ok(res: BenchResponse): void {
  if (res.status !== 200) throw new Error(`profiling workload: HTTP ${res.status} ${res.body?.toString('utf8').slice(0, 200)}`);
}

/** CPU profile of the gateway while `work` runs (profiler preloaded, driven over IPC). */
export async function profileDuring(gateway: Service, name: string, work: () => Promise<unknown>): Promise<ProfileSummary> {
  await ask(gateway.child, { cpuProfile: 'start' }, 'cpuProfileStarted');
  await work();
  const file = (await ask(gateway.child, { cpuProfile: 'stop', name }, 'cpuProfileWritten')) as string;
  return summariseProfile(file);
}

/** What the scenarios that ran left behind (BENCH_ONLY may have skipped some). */
export interface ProfileInputs {
  bigPackageID?: number;
  object?: BigObject;
  flatPackageID?: number;
  treePackageID?: number;
  s3Space?: S3SpaceInputs;
  requestCost?: RequestCostInputs;
}

/** The profiling runs of the request-cost workloads: as measured, 16 in flight for throughput, 1 for latency. */
const PROFILE_REQUESTS = 400;

/** All must answer 200: a profile of failures would explain nothing. */
async function allOk(client: BenchClient, reqs: Awaited<ReturnType<typeof prepareMeta>>, concurrency: number): Promise<void> {
  const load = await runLoad(client, reqs, concurrency);
  if (load.errors.length) throw new Error(`profiling workload: ${load.errors[0]}`);
  const bad = load.responses.find((r) => r.status !== 200);
  if (bad) throw new Error(`profiling workload: HTTP ${bad.status} ${bad.body?.toString('utf8').slice(0, 200)}`);
}

/**
 * Runs after the measured passes, on a gateway restarted with the CPU profiler (same database and
 * data dir), a shorter version of each workload whose target was missed, and summarises where the
 * gateway's main thread spent its time. Profiling slows the gateway: these runs are not figures.
 * The .cpuprofile files open in Chrome DevTools or speedscope (keep them with BENCH_PROFILE_OUT=dir).
 */
export async function profileWorkloads(ctx: BenchContext, which: Set<string>, inputs: ProfileInputs): Promise<Record<string, ProfileSummary>> {
  await ctx.env.stop(ctx.gateway);
  const gateway = await ctx.env.startGateway({ profile: true });
  ctx.gateway = gateway;
  const client = new BenchClient(gateway.url, ctx.env.adminCredentials(), { maxSockets: 16 });
  const out: Record<string, ProfileSummary> = {};
  try {
    const run = async (name: string, work: () => Promise<unknown>) => {
      log(`profiling gateway: ${name}`);
      const summary = (out[name] = await profileDuring(gateway, name, work));
      // One readable line per workload on stderr; the full summary is in the JSON's `profiles`.
      const top = (xs: Array<{ owner: string; pctOfBusy: number }>) => xs.slice(0, 7).map((o) => `${o.owner} ${o.pctOfBusy}%`).join(', ');
      log(`  ${name}: busy ${Math.round(summary.wallMs - summary.idleMs)} of ${Math.round(summary.wallMs)} ms; by calling owner: ${top(summary.byCallingOwner)}`);
      // The raw profiles live in the temp dir, removed at the end; BENCH_PROFILE_OUT keeps copies.
      const keep = process.env.BENCH_PROFILE_OUT;
      if (keep) {
        mkdirSync(keep, { recursive: true });
        copyFileSync(path.join(ctx.env.profileDir, `${name}.cpuprofile`), path.join(keep, `${name}.cpuprofile`));
        log(`  ${name}.cpuprofile copied to ${keep}`);
      }
    };
    const { bigPackageID, object, flatPackageID, treePackageID, s3Space, requestCost: rc } = inputs;
    if (which.has('upload') && bigPackageID) await run('upload', () => uploadBig(client, 'gateway', gateway.pid, bigPackageID, ctx.bigSize));
    if (which.has('download') && object) await run('download', () => downloadBig(client, 'gateway', gateway.pid, object));
    if (which.has('ranged') && object)
      await run('ranged', async () => {
        for (const o of randomOffsets(300, object.size, 99)) await rangedRead(client, 'gateway', object, o);
      });
    if (which.has('smallObjects'))
      await run('smallObjects', async () => {
        const pkg = await newPackage(client, 'bench-small-profile', 'small');
        await smallObjectsRun(client, 'gateway', gateway.pid, pkg, 'profile', 2000, 1, 90_000_000);
      });
    if (which.has('listing') && flatPackageID)
      await run('listing', async () => {
        for (let i = 0; i < 20; i++) ok(await client.request({ path: '/v1/object/listByPath', query: { packageID: flatPackageID, path: '', isPrefix: true, maxKeys: 1000 } }));
      });
    if (which.has('listingNoRecursive') && treePackageID)
      await run('listingNoRecursive', async () => {
        for (let i = 0; i < 10; i++)
          ok(await client.request({ path: '/v1/object/listByPath', query: { packageID: treePackageID, path: '', isPrefix: true, noRecursive: true, maxKeys: 1000 } }));
      });
    // Requests are signed before the profiler starts, so the profile holds the server's work only.
    if (which.has('smallUpload') && rc) {
      const { reqs } = await prepareUploads(client, 'gateway', rc.packageID, 'rc-profile', PROFILE_REQUESTS);
      await run('smallUpload', () => allOk(client, reqs, 16));
    }
    if (which.has('smallDownload') && rc) {
      const shards = shardFilesOf(ctx.env.dataDir, new Set(rc.objects.map((o) => o.fileHash)));
      const reqs = await prepareDownloads(client, 'gateway', rc.packageID, rc.objects, shards, PROFILE_REQUESTS);
      await run('smallDownload', () => allOk(client, reqs, 16));
    }
    for (const call of ['listAll', 'listByPath'] as const)
      if (which.has(call) && rc) {
        const reqs = await prepareMeta(client, 'gateway', call, rc, PROFILE_REQUESTS);
        await run(call, () => allOk(client, reqs, 1));
      }
    // The S3 space (and its s3rver) outlive the restart: the space is in the database.
    if (which.has('s3SpaceUpload') && s3Space) await run('s3SpaceUpload', () => gatewayUpload(client, s3Space, S3_PROFILE_SEED, 's3/profile.bin'));
    if (which.has('s3SpaceDownload') && s3Space) await run('s3SpaceDownload', () => gatewayDownload(client, s3Space.objectID, s3Space.size));
  } finally {
    client.close();
  }
  return out;
}
