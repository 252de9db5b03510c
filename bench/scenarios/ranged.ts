import { check, type BenchContext, type TargetCheck } from '../context.js';
import { cpuMs } from '../cpu.js';
import { prng } from '../data.js';
import type { BenchClient, PreparedRequest } from '../http-client.js';
import { log } from '../processes.js';
import { latencySummary, ratio, round } from '../stats.js';
import type { BigObject } from './big-object.js';

const RANGE = 4096;

/** One signed 4 KiB `Range` read at `offset`, not sent yet (the gateway and the baseline both answer 206). */
export function prepareRangedRead(client: BenchClient, kind: 'gateway' | 'baseline', obj: BigObject, offset: number): Promise<PreparedRequest> {
  const spec =
    kind === 'gateway'
      ? { path: '/v1/object/download', query: { objectID: obj.objectID } }
      : { path: '/file', query: { path: obj.shardFile } };
  return client.prepare({ ...spec, headers: { range: `bytes=${offset}-${offset + RANGE - 1}` }, sink: 'discard' });
}

/** Sends a prepared ranged read; its latency, signing excluded. */
async function sendRangedRead(client: BenchClient, kind: 'gateway' | 'baseline', req: PreparedRequest, offset: number): Promise<number> {
  const res = await client.send(req);
  if (res.status !== 206 || res.bytes !== RANGE) throw new Error(`${kind} ranged read at ${offset}: HTTP ${res.status}, ${res.bytes} bytes`);
  return res.ms;
}

/** One 4 KiB `Range` read at `offset`, signed and sent. */
export async function rangedRead(client: BenchClient, kind: 'gateway' | 'baseline', obj: BigObject, offset: number): Promise<number> {
  return sendRangedRead(client, kind, await prepareRangedRead(client, kind, obj, offset), offset);
}

export function randomOffsets(n: number, size: number, seed = 42): number[] {
  const rnd = prng(seed);
  return Array.from({ length: n }, () => Math.floor(rnd() * (size - RANGE + 1)));
}

/**
 * Figure 3: 1,000 random 4 KiB reads, sequential on one keep-alive connection per server, each signed
 * before the timed loop. Gateway and baseline alternate request by request, so a noisy second hits
 * both alike. The data is in the page cache for both (it was just written and read): this measures
 * request overhead, not the disk. `p50Ratio` (gateway p50 / baseline p50) is issue 8's figure.
 */
export async function runRanged(ctx: BenchContext, obj: BigObject, n = 1000) {
  const offsets = randomOffsets(n, obj.size);
  for (const o of randomOffsets(50, obj.size, 7)) {
    await rangedRead(ctx.gw, 'gateway', obj, o);
    await rangedRead(ctx.bl, 'baseline', obj, o);
  }
  // Every request signed before the timed loop (signatures stay valid 15 minutes; the loop takes
  // seconds), so the latencies hold the exchange only, not the client's signing, on both sides.
  const gwReqs = await Promise.all(offsets.map((o) => prepareRangedRead(ctx.gw, 'gateway', obj, o)));
  const blReqs = await Promise.all(offsets.map((o) => prepareRangedRead(ctx.bl, 'baseline', obj, o)));
  const gw: number[] = [];
  const bl: number[] = [];
  const cpu0 = { gateway: cpuMs(ctx.gateway.pid), baseline: cpuMs(ctx.baseline.pid) };
  for (let i = 0; i < n; i++) {
    if (i % 2 === 0) {
      gw.push(await sendRangedRead(ctx.gw, 'gateway', gwReqs[i], offsets[i]));
      bl.push(await sendRangedRead(ctx.bl, 'baseline', blReqs[i], offsets[i]));
    } else {
      bl.push(await sendRangedRead(ctx.bl, 'baseline', blReqs[i], offsets[i]));
      gw.push(await sendRangedRead(ctx.gw, 'gateway', gwReqs[i], offsets[i]));
    }
  }
  // Each server is its own process, so its CPU over the interleaved loop is its own work.
  const gatewayCpu = round((cpuMs(ctx.gateway.pid) - cpu0.gateway) / n);
  const baselineCpu = round((cpuMs(ctx.baseline.pid) - cpu0.baseline) / n);
  const gateway = { ...latencySummary(gw), serverCpuMsPerRequest: gatewayCpu };
  const baseline = { ...latencySummary(bl), serverCpuMsPerRequest: baselineCpu };
  log(`ranged 4 KiB x${n}: gateway p50 ${gateway.p50Ms} ms p99 ${gateway.p99Ms} ms; baseline p50 ${baseline.p50Ms} ms p99 ${baseline.p99Ms} ms`);
  const result = {
    requests: n,
    rangeBytes: RANGE,
    gateway,
    baseline,
    /** Issue 8's figure: gateway p50 / plain p50 for the same ranges. */
    p50Ratio: ratio(gateway.p50Ms, baseline.p50Ms),
    ratioP50: ratio(gateway.p50Ms, baseline.p50Ms),
    ratioP99: ratio(gateway.p99Ms, baseline.p99Ms),
    cpuRatio: ratio(gatewayCpu, baselineCpu),
  };
  const targets: TargetCheck[] = [check('ranged.gateway.p50Ms', gateway.p50Ms, '<=', 5), check('ranged.p50Ratio', result.p50Ratio, '<=', 2, 8)];
  return { result, targets };
}
