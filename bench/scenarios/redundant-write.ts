import { execFileSync } from 'node:child_process';
import { check, type BenchContext, type TargetCheck } from '../context.js';
import { log } from '../processes.js';
import { RssMonitor, peakOf } from '../rss.js';
import { mbPerSec, median, MiB, ratio, round } from '../stats.js';
import { uploadBig } from './big-object.js';

/**
 * Issue 9's write figures: a `BENCH_BIG_MIB` (1 GiB) upload encoded as `ec` k=4 n=6 (1 MiB chunks)
 * and k=2 n=3 (5 MiB chunks, JCS-pub's default) over six Local spaces, against the plain server
 * writing the same total bytes (n/k × size, raw body to one file with the same fsync policy);
 * gateway peak RSS for one such upload and for 8 at once (BENCH_EC_PARALLEL_MIB each).
 */
const POLICIES = [
  { name: 'k4n6', policy: { type: 'ec', k: 4, n: 6, chunkSize: 1024 * 1024 } },
  { name: 'k2n3', policy: { type: 'ec', k: 2, n: 3, chunkSize: 5 * 1024 * 1024 } },
] as const;

export async function runRedundantWrite(ctx: BenchContext, parallelBytes = 128 * MiB) {
  const size = ctx.bigSize;
  for (let i = 0; i < 6; i++) {
    await ctx.gw.postJson('/v1/userSpace/create', {
      name: `ecw-${i}`,
      storage: { type: 'Local', rootDir: `ecw-${i}` },
      credential: { type: 'Local' },
      shardStore: { maxSize: 2 ** 42 },
      workingDir: '.jcs',
    });
  }
  const result: Record<string, unknown> = {};
  const targets: TargetCheck[] = [];
  for (const { name, policy } of POLICIES) {
    const b = await ctx.gw.postJson<{ bucket: { bucketID: number } }>('/v1/bucket/create', { name: `bench-ecw-${name}` });
    const p = await ctx.gw.postJson<{ package: { packageID: number } }>('/v1/package/create', { bucketID: b.bucket.bucketID, name: 'ec', redundancy: policy });
    const packageID = p.package.packageID;
    const total = Math.round((size * policy.n) / policy.k);
    const gw: number[] = [];
    const bl: number[] = [];
    const rss: number[] = [];
    for (let r = 0; r < ctx.rounds; r++) {
      for (const kind of r % 2 === 0 ? (['gateway', 'baseline'] as const) : (['baseline', 'gateway'] as const)) {
        if (kind === 'gateway') {
          const res = await uploadBig(ctx.gw, 'gateway', ctx.gateway.pid, packageID, size);
          gw.push(res.ms);
          rss.push(peakOf(res.rss));
          log(`redundantWrite ${name} round ${r + 1} gateway: ${mbPerSec(size, res.ms)} MB/s of object (${mbPerSec(total, res.ms)} MB/s written), peak RSS ${peakOf(res.rss)} MiB`);
        } else {
          const res = await uploadBig(ctx.bl, 'baselineRaw', ctx.baseline.pid, 0, total);
          bl.push(res.ms);
          log(`redundantWrite ${name} round ${r + 1} baseline: ${mbPerSec(total, res.ms)} MB/s written`);
        }
      }
    }
    const figure = {
      policy,
      objectBytes: size,
      bytesWritten: total,
      gatewayObjectMBps: median(gw.map((ms) => mbPerSec(size, ms))),
      gatewayWrittenMBps: median(gw.map((ms) => mbPerSec(total, ms))),
      baselineWrittenMBps: median(bl.map((ms) => mbPerSec(total, ms))),
      ratio: median(gw.map((g, i) => ratio(bl[i]!, g))),
      peakRssMiB: Math.max(...rss),
    };
    result[name] = figure;
    targets.push(check(`redundantWrite.${name}.ratio`, figure.ratio, '>=', 0.8, 9), check(`redundantWrite.${name}.peakRssMiB`, figure.peakRssMiB, '<=', 200, 9));
  }

  // 8 EC uploads at once (k=4 n=6), peak RSS of the gateway.
  const b = await ctx.gw.postJson<{ bucket: { bucketID: number } }>('/v1/bucket/create', { name: 'bench-ecw-par' });
  const p = await ctx.gw.postJson<{ package: { packageID: number } }>('/v1/package/create', { bucketID: b.bucket.bucketID, name: 'ec', redundancy: POLICIES[0].policy });
  execFileSync('sync');
  const mon = new RssMonitor(ctx.gateway.pid).start();
  const t0 = performance.now();
  await Promise.all(Array.from({ length: 8 }, () => uploadBig(ctx.gw, 'gateway', ctx.gateway.pid, p.package.packageID, parallelBytes)));
  const ms = performance.now() - t0;
  const peak = peakOf(mon.stop());
  result.parallel8 = { uploads: 8, bytesEach: parallelBytes, objectMBps: mbPerSec(8 * parallelBytes, ms), peakRssMiB: peak };
  log(`redundantWrite 8 at once x ${parallelBytes / MiB} MiB: ${round(mbPerSec(8 * parallelBytes, ms), 0)} MB/s, peak RSS ${peak} MiB`);
  targets.push(check('redundantWrite.parallel8.peakRssMiB', peak, '<=', 400, 9));
  return { result, targets };
}
