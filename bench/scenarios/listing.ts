import pg from 'pg';
import { check, newPackage, type BenchContext, type TargetCheck } from '../context.js';
import type { BenchClient } from '../http-client.js';
import { cpuMs } from '../cpu.js';
import { log } from '../processes.js';
import { latencySummary, ratio, round } from '../stats.js';

const N = 100_000;

/**
 * Fills a package with 100,000 object rows straight in SQL: uploading them through the API would take
 * minutes and measure figure 4 again. Listing reads `objects` only, so no `object_blocks` rows and no
 * shard files are made; the hashes are dummies.
 */
async function fillPackage(db: pg.Client, userID: number, packageID: number, pathExpr: string): Promise<void> {
  await db.query(
    `INSERT INTO objects (user_id, package_id, path, size, file_hash, redundancy, create_time, update_time)
     SELECT $1, $2, ${pathExpr}, 1024, 'Full' || upper(md5(g::text) || md5((g + 1)::text)), '{"type":"none"}'::jsonb, now(), now()
     FROM generate_series(0, ${N - 1}) AS g`,
    [userID, packageID],
  );
}

type Query = Record<string, string | number | boolean>;

async function listOnce(client: BenchClient, kind: 'gateway' | 'baseline', q: Query, expect: (json: any) => void): Promise<number> {
  const res = await client.request(kind === 'gateway' ? { path: '/v1/object/listByPath', query: q, sink: 'buffer' } : { path: '/list', query: q, sink: 'buffer' });
  if (res.status !== 200) throw new Error(`${kind} list: HTTP ${res.status} ${res.body!.toString('utf8').slice(0, 300)}`);
  expect(JSON.parse(res.body!.toString('utf8'))); // parsed after the clock stopped: not part of the figure
  return res.ms;
}

/** Alternates gateway and baseline requests; stops early after `budgetMs` (noRecursive can be slow). */
async function compare(ctx: BenchContext, gq: Query, gExpect: (j: any) => void, bq: Query, bExpect: (j: any) => void, n: number, budgetMs = 60_000, warmup = 3) {
  for (let i = 0; i < warmup; i++) {
    await listOnce(ctx.gw, 'gateway', gq, gExpect);
    await listOnce(ctx.bl, 'baseline', bq, bExpect);
  }
  const gw: number[] = [];
  const bl: number[] = [];
  const cpu0 = { gateway: cpuMs(ctx.gateway.pid), baseline: cpuMs(ctx.baseline.pid) };
  const t0 = performance.now();
  for (let i = 0; i < n && performance.now() - t0 < budgetMs; i++) {
    gw.push(await listOnce(ctx.gw, 'gateway', gq, gExpect));
    bl.push(await listOnce(ctx.bl, 'baseline', bq, bExpect));
  }
  // Server process CPU only: PostgreSQL's own work is in neither figure.
  const gateway = { ...latencySummary(gw), serverCpuMsPerRequest: round((cpuMs(ctx.gateway.pid) - cpu0.gateway) / gw.length) };
  const baseline = { ...latencySummary(bl), serverCpuMsPerRequest: round((cpuMs(ctx.baseline.pid) - cpu0.baseline) / bl.length) };
  return { gateway, baseline, ratioP50: ratio(gateway.p50Ms, baseline.p50Ms) };
}

const expectPage = (keys: number, prefixes: number, truncated: boolean) => (j: any) => {
  const d = j.data;
  if (d?.objects?.length !== keys || d.commonPrefixes.length !== prefixes || d.isTruncated !== truncated)
    throw new Error(`listByPath answered ${d?.objects?.length} objects, ${d?.commonPrefixes?.length} prefixes, isTruncated ${d?.isTruncated}`);
};
const expectRows = (n: number) => (j: any) => {
  if (j.objects.length !== n) throw new Error(`baseline listed ${j.objects.length} rows`);
};

/**
 * Figure 5: first page (1,000 keys) of listByPath in a package of 100,000 objects, and, on a package
 * shaped as a tree (1,000 folders × 10 subfolders × 10 files), `noRecursive=true` listings at the root
 * (a page of 1,000 common prefixes) and one level down (10 common prefixes). The baseline is one keyset
 * SQL query for 1,000 rows of the same package sent as JSON (no delimiter grouping).
 */
export async function runListing(ctx: BenchContext, requests = 50) {
  const flat = await newPackage(ctx.gw, 'bench-list-flat', 'flat');
  const tree = await newPackage(ctx.gw, 'bench-list-tree', 'tree');
  const db = new pg.Client({ connectionString: ctx.env.databaseUrl });
  await db.connect();
  try {
    const t0 = performance.now();
    await fillPackage(db, ctx.userID, flat, `'data/' || lpad(g::text, 6, '0') || '.bin'`);
    await fillPackage(db, ctx.userID, tree, `'d' || lpad((g / 100)::text, 4, '0') || '/s' || ((g / 10) % 10) || '/f' || (g % 10) || '.bin'`);
    await db.query('VACUUM ANALYZE objects');
    log(`inserted ${2 * N} object rows by SQL in ${Math.round(performance.now() - t0)} ms`);
  } finally {
    await db.end();
  }

  const base = (packageID: number) => ({ userID: ctx.userID, packageID, prefix: '', limit: 1000 });
  const flatPage = await compare(
    ctx,
    { packageID: flat, path: '', isPrefix: true, maxKeys: 1000 },
    expectPage(1000, 0, true),
    base(flat),
    expectRows(1000),
    requests,
  );
  log(`listByPath flat first page: gateway p50 ${flatPage.gateway.p50Ms} ms, baseline p50 ${flatPage.baseline.p50Ms} ms`);
  const rootDelimited = await compare(
    ctx,
    { packageID: tree, path: '', isPrefix: true, noRecursive: true, maxKeys: 1000 },
    expectPage(0, 1000, false), // exactly 1,000 top-level folders: nothing left
    base(tree),
    expectRows(1000),
    requests,
    30_000,
    1,
  );
  log(`listByPath noRecursive root (1,000 prefixes): gateway p50 ${rootDelimited.gateway.p50Ms} ms (n=${rootDelimited.gateway.n})`);
  const folderDelimited = await compare(
    ctx,
    { packageID: tree, path: 'd0042/', isPrefix: true, noRecursive: true, maxKeys: 1000 },
    (j) => {
      if (j.data?.commonPrefixes?.length !== 10 || j.data.objects.length !== 0) throw new Error(`noRecursive d0042/: ${JSON.stringify(j).slice(0, 200)}`);
    },
    { ...base(tree), prefix: 'd0042/', limit: 100 },
    expectRows(100),
    requests,
  );
  log(`listByPath noRecursive one folder (10 prefixes): gateway p50 ${folderDelimited.gateway.p50Ms} ms`);

  const result = {
    objectsInPackage: N,
    flatFirstPage: { maxKeys: 1000, ...flatPage },
    noRecursiveRoot: { commonPrefixes: 1000, ...rootDelimited },
    noRecursiveFolder: { commonPrefixes: 10, baselineRows: 100, ...folderDelimited },
  };
  const targets: TargetCheck[] = [check('listing.flatFirstPage.gateway.p50Ms', flatPage.gateway.p50Ms, '<=', 50)];
  return { result, targets, packages: { flat, tree } };
}
