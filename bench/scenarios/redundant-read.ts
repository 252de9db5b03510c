import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, mkdirSync, openSync, closeSync, fsyncSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { GranuleSummer, StripeLayout, codecFor } from '#redundancy';
import { check, newPackage, type BenchContext, type TargetCheck } from '../context.js';
import { log } from '../processes.js';
import { latencySummary, mbPerSec, median, MiB, ratio, round } from '../stats.js';
import { downloadBig, uploadBig, type BigObject } from './big-object.js';
import { prepareRangedRead, randomOffsets } from './ranged.js';

/**
 * Issue 9's read figures for a 1 GiB `ec` k=4 n=6 object over six Local spaces: full download
 * healthy vs the plain server serving the same bytes as one file (≥ 0.8×), with n−k = 2 data blocks
 * lost vs healthy (≥ 0.5×), and 4 KiB ranged reads' p50 vs the plain server's (≤ 2×).
 *
 * The object is uploaded plainly, then its blocks are encoded here (stripe by stripe, the gateway's
 * read codec) into the six spaces' shard folders and its block map rewritten in PostgreSQL, as the
 * tests' fixture does: until the encoding write path (branch red-write) is merged this is how an
 * `ec` object gets into the bench. Only the reads are timed.
 */
const K = 4;
const N = 6;
const CHUNK = 1024 * 1024;
const GRANULE = 64 * 1024;

export async function runRedundantRead(ctx: BenchContext, rangedCount = 500) {
  const size = ctx.bigSize;
  const packageID = await newPackage(ctx.gw, 'bench-ec', 'ec');
  const spaceIds: number[] = [];
  for (let i = 0; i < N; i++) {
    const r = await ctx.gw.postJson<{ userSpace: { userSpaceID: number } }>('/v1/userSpace/create', {
      name: `ec-${i}`,
      storage: { type: 'Local', rootDir: `ec-${i}` },
      credential: { type: 'Local' },
      shardStore: { maxSize: 2 ** 40 },
      workingDir: '.jcs',
    });
    spaceIds.push(r.userSpace.userSpaceID);
  }
  const up = await uploadBig(ctx.gw, 'gateway', ctx.gateway.pid, packageID, size);
  const plain = up.object!;
  const db = new pg.Client({ connectionString: ctx.env.databaseUrl });
  await db.connect();
  try {
    const shardFile = findShard(ctx, plain.fileHash);
    log(`redundantRead: encoding ${size / MiB} MiB as ec k=${K} n=${N} (${CHUNK / MiB} MiB chunks) into ${N} Local spaces`);
    const t0 = performance.now();
    const blocks = await encodeInto(ctx, shardFile, size, spaceIds);
    log(`redundantRead: encoded in ${round((performance.now() - t0) / 1000, 1)} s (pure-JS codec, not a figure)`);
    const {
      rows: [row],
    } = await db.query(
      `INSERT INTO objects (user_id, package_id, path, size, file_hash, redundancy, create_time, update_time)
       SELECT user_id, package_id, 'ec/big.bin', size, file_hash, $2::jsonb, now(), now() FROM objects WHERE object_id = $1 RETURNING object_id`,
      [plain.objectID, JSON.stringify({ type: 'ec', k: K, n: N, chunkSize: CHUNK })],
    );
    const ecId = Number(row.object_id);
    for (const b of blocks) {
      await db.query(`INSERT INTO shards (user_space_id, file_hash, size) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, [b.space, b.hash, b.size]);
      await db.query(
        `INSERT INTO object_blocks (object_id, index, user_space_id, file_hash, size, state, granule_size, granule_sums) VALUES ($1, $2, $3, $4, $5, 'ok', $6, $7)`,
        [ecId, b.index, b.space, b.hash, b.size, GRANULE, b.sums],
      );
    }
    const ecObj: BigObject = { objectID: ecId, fileHash: plain.fileHash, size, shardFile };
    const plainObj: BigObject = { ...ecObj, objectID: plain.objectID };

    const downloads = async (label: string) => {
      const gw: number[] = [];
      const bl: number[] = [];
      await downloadBig(ctx.gw, 'gateway', ctx.gateway.pid, ecObj); // warm-up, not counted
      for (let r = 0; r < ctx.rounds; r++) {
        for (const kind of r % 2 === 0 ? (['gateway', 'baseline'] as const) : (['baseline', 'gateway'] as const)) {
          const res = await downloadBig(kind === 'gateway' ? ctx.gw : ctx.bl, kind, kind === 'gateway' ? ctx.gateway.pid : ctx.baseline.pid, kind === 'gateway' ? ecObj : plainObj);
          (kind === 'gateway' ? gw : bl).push(res.ms);
          log(`redundantRead ${label} round ${r + 1} ${kind}: ${mbPerSec(size, res.ms)} MB/s`);
        }
      }
      return { gatewayMBps: median(gw.map((ms) => mbPerSec(size, ms))), baselineMBps: median(bl.map((ms) => mbPerSec(size, ms))), ratio: median(gw.map((g, i) => ratio(bl[i]!, g))) };
    };

    const healthy = await downloads('healthy');

    // 4 KiB ranged reads: the ec object on the gateway, the same bytes as one file on the baseline.
    const offsets = randomOffsets(rangedCount, size, 99);
    for (const o of randomOffsets(50, size, 5)) {
      await ctx.gw.send(await prepareRangedRead(ctx.gw, 'gateway', ecObj, o));
      await ctx.bl.send(await prepareRangedRead(ctx.bl, 'baseline', ecObj, o));
    }
    const gwReqs = await Promise.all(offsets.map((o) => prepareRangedRead(ctx.gw, 'gateway', ecObj, o)));
    const blReqs = await Promise.all(offsets.map((o) => prepareRangedRead(ctx.bl, 'baseline', ecObj, o)));
    const gwMs: number[] = [];
    const blMs: number[] = [];
    for (let i = 0; i < offsets.length; i++) {
      const pair = i % 2 === 0 ? ([['gw', gwReqs[i]], ['bl', blReqs[i]]] as const) : ([['bl', blReqs[i]], ['gw', gwReqs[i]]] as const);
      for (const [side, req] of pair) {
        const res = await (side === 'gw' ? ctx.gw : ctx.bl).send(req!);
        if (res.status !== 206 || res.bytes !== 4096) throw new Error(`${side} ranged read: HTTP ${res.status}, ${res.bytes} bytes`);
        (side === 'gw' ? gwMs : blMs).push(res.ms);
      }
    }
    const ranged = { requests: offsets.length, gateway: latencySummary(gwMs), baseline: latencySummary(blMs), p50Ratio: 0 };
    ranged.p50Ratio = ratio(ranged.gateway.p50Ms, ranged.baseline.p50Ms);
    log(`redundantRead ranged 4 KiB x${offsets.length}: gateway p50 ${ranged.gateway.p50Ms} ms, baseline p50 ${ranged.baseline.p50Ms} ms`);

    // n−k data blocks lost: their files deleted (the first read finds them gone and marks them).
    for (const b of blocks.filter((x) => x.index < N - K)) unlinkSync(b.file);
    const degraded = await downloads('degraded');
    const result = {
      objectBytes: size,
      policy: { type: 'ec', k: K, n: N, chunkSize: CHUNK },
      healthy,
      degraded: { ...degraded, ratioToHealthy: ratio(degraded.gatewayMBps, healthy.gatewayMBps) },
      ranged,
    };
    const targets: TargetCheck[] = [
      check('redundantRead.healthy.ratio', healthy.ratio, '>=', 0.8, 9),
      check('redundantRead.degraded.ratioToHealthy', result.degraded.ratioToHealthy, '>=', 0.5, 9),
      check('redundantRead.ranged.p50Ratio', ranged.p50Ratio, '<=', 2, 9),
    ];
    return { result, targets };
  } finally {
    await db.end();
  }
}

function findShard(ctx: BenchContext, fileHash: string): string {
  const out = execFileSync('find', [ctx.env.dataDir, '-name', fileHash, '-type', 'f']).toString().trim().split('\n')[0];
  if (!out) throw new Error(`shard ${fileHash} not found`);
  return out;
}

/** Encodes the plain shard file into N block files, one per space, with their hashes and granule sums. */
async function encodeInto(ctx: BenchContext, shardFile: string, size: number, spaceIds: number[]) {
  const layout = new StripeLayout(size, K, CHUNK);
  const codec = codecFor(K, N);
  const tenant = path.join(ctx.env.dataDir, 'tenants', String(ctx.userID));
  const tmp = spaceIds.map((_, i) => {
    const dir = path.join(tenant, `ec-${i}`, '.jcs', 'shards', 'tmp');
    mkdirSync(dir, { recursive: true });
    return path.join(dir, `bench-${i}`);
  });
  const fds = tmp.map((p) => openSync(p, 'w'));
  const hashes = spaceIds.map(() => createHash('sha256'));
  const summers = spaceIds.map(() => new GranuleSummer(GRANULE));
  const stripe = Buffer.alloc(layout.stripeBytes);
  let filled = 0;
  const flush = async () => {
    stripe.fill(0, filled);
    const data = Array.from({ length: K }, (_, i) => stripe.subarray(i * CHUNK, (i + 1) * CHUNK));
    const parity = await codec.encode(data);
    [...data, ...parity].forEach((c, i) => {
      writeSync(fds[i]!, c);
      hashes[i]!.update(c);
      summers[i]!.update(c);
    });
    filled = 0;
  };
  for await (const chunk of createReadStream(shardFile, { highWaterMark: 4 * MiB }) as AsyncIterable<Buffer>) {
    let off = 0;
    while (off < chunk.length) {
      const n = Math.min(chunk.length - off, stripe.length - filled);
      chunk.copy(stripe, filled, off, off + n);
      filled += n;
      off += n;
      if (filled === stripe.length) await flush();
    }
  }
  if (filled > 0) await flush();
  return spaceIds.map((space, index) => {
    fsyncSync(fds[index]!);
    closeSync(fds[index]!);
    const hash = 'Full' + hashes[index]!.digest('hex').toUpperCase();
    const dir = path.join(tenant, `ec-${index}`, '.jcs', 'shards', 'blocks', hash.slice(4, 6));
    mkdirSync(dir, { recursive: true });
    const file = path.join(dir, hash);
    renameSync(tmp[index]!, file);
    return { index, space, hash, size: layout.blockSize, sums: summers[index]!.finish(), file };
  });
}
