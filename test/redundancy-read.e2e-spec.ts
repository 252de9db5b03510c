import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { resolvePolicy, type RedundancyPolicy, type StoredPolicy } from '#redundancy';
import { shardReads } from '#shard-store';
import { startTestGateway, type Tenant, type TestGateway } from './support/gateway.js';
import { BlockMaintenance } from '#objects';
import { fullHashOf, newPackage, uploadFiles } from './support/objects.js';
import { GRANULE, blockBytes, blockStates, deleteBlock, flipByte, putRedundant, seeded, seededBytes, shardSpaces, type StoredBlock } from './support/redundancy.js';

/**
 * Verified, failover and degraded reads (issue 9 §5) over six Local spaces: objects are stored with
 * a policy's blocks (test/support/redundancy.ts), damaged (a block file deleted or one byte flipped),
 * and read whole and by ranges. Every read is byte-exact or refused / cut: never a wrong byte.
 */

type Got = { status: number; bytes: Buffer; cut: boolean; json?: any };

async function get(t: Tenant, objectId: number, range?: [number, number]): Promise<Got> {
  let res: Response;
  try {
    res = await t.client.raw({ method: 'GET', path: '/v1/object/download', query: { objectID: objectId }, headers: range ? { range: `bytes=${range[0]}-${range[1]}` } : {} });
  } catch {
    return { status: 0, bytes: Buffer.alloc(0), cut: true };
  }
  try {
    const bytes = Buffer.from(await res.arrayBuffer());
    const json = res.status >= 400 ? JSON.parse(bytes.toString('utf8')) : undefined;
    return { status: res.status, bytes, cut: false, json };
  } catch {
    return { status: res.status, bytes: Buffer.alloc(0), cut: true };
  }
}

const AUTO: RedundancyPolicy = { type: 'auto', threshold: 1 << 20, small: { type: 'rep', repCount: 2 }, large: { type: 'ec', k: 3, n: 5, chunkSize: 128 * 1024 } };

const CASES: Array<{ name: string; policy: StoredPolicy; size: number }> = [
  { name: 'rep 3', policy: { type: 'rep', repCount: 3 }, size: 3 * 1024 * 1024 + 123 },
  { name: 'ec k=4 n=6', policy: { type: 'ec', k: 4, n: 6, chunkSize: 128 * 1024 }, size: 2 * 1024 * 1024 + 777 },
  { name: 'ec k=2 n=3 (5 MiB chunks)', policy: { type: 'ec', k: 2, n: 3, chunkSize: 5 * 1024 * 1024 }, size: 11 * 1024 * 1024 + 5 },
  { name: 'ec k=2 n=5', policy: { type: 'ec', k: 2, n: 5, chunkSize: 64 * 1024 }, size: 1024 * 1024 + 3333 },
  { name: 'auto (small: rep 2)', policy: resolvePolicy(AUTO, 200_000), size: 200_000 },
  { name: 'auto (large: ec k=3 n=5)', policy: resolvePolicy(AUTO, 3 * 1024 * 1024), size: 3 * 1024 * 1024 },
];

const blockCount = (p: StoredPolicy) => (p.type === 'ec' ? p.n : p.type === 'rep' ? p.repCount : 1);
const tolerated = (p: StoredPolicy) => (p.type === 'ec' ? p.n - p.k : p.type === 'rep' ? p.repCount - 1 : 0);

function randomRanges(rand: () => number, size: number, count: number): Array<[number, number]> {
  const out: Array<[number, number]> = [[0, 0], [size - 1, size - 1]];
  for (let i = 0; i < count; i++) {
    const len = 1 + Math.floor(rand() ** 3 * Math.min(size, 1 << 21));
    const start = Math.floor(rand() * (size - len + 1));
    out.push([start, start + len - 1]);
  }
  return out;
}

describe('redundancy: verified and degraded reads', () => {
  let gw: TestGateway;
  let a: Tenant;
  let pkg: number;
  let spaces: number[];
  let seq = 0;

  beforeAll(async () => {
    gw = await startTestGateway();
    a = await gw.tenant();
    spaces = await shardSpaces(a, 6);
    pkg = await newPackage(a);
  });
  afterAll(async () => gw?.stop());

  describe.each(CASES)('$name', ({ policy, size }) => {
    it('healthy: full and ranged reads are exact, ranged reads read at most the range and a granule at each end', async () => {
      const rand = seeded(1000 + size);
      const data = seededBytes(size, size);
      const { objectId } = await putRedundant(gw, a, pkg, `h/${++seq}`, data, policy, spaces);
      const full = await get(a, objectId);
      expect(full.status).toBe(200);
      expect(full.bytes.equals(data)).toBe(true);
      for (const [s, e] of randomRanges(rand, size, 12)) {
        const before = shardReads.bytes;
        const got = await get(a, objectId, [s, e]);
        const read = shardReads.bytes - before;
        expect(got.status).toBe(206);
        expect(got.bytes.equals(data.subarray(s, e + 1))).toBe(true);
        expect(read).toBeLessThanOrEqual(e - s + 1 + 2 * GRANULE);
      }
      expect((await blockStates(gw, objectId)).every((b) => b.state === 'ok')).toBe(true);
    });

    it('up to n−k blocks deleted or corrupted: reads stay exact and the damage found is marked', async () => {
      const rand = seeded(2000 + size);
      const n = blockCount(policy);
      for (let trial = 0; trial < 3; trial++) {
        const data = seededBytes(size * 7 + trial, size);
        const { objectId, blocks } = await putRedundant(gw, a, pkg, `d/${++seq}`, data, policy, spaces);
        const lose = 1 + Math.floor(rand() * tolerated(policy));
        const order = blocks.map((b) => ({ b, r: rand() })).sort((x, y) => x.r - y.r).map((x) => x.b);
        const damaged = new Set<StoredBlock>(order.slice(0, lose));
        for (const b of damaged) {
          if (rand() < 0.5) await deleteBlock(gw, b);
          else await flipByte(gw, b, Math.floor(rand() * usedBytes(policy, size, b)));
        }
        const full = await get(a, objectId);
        expect(full.status).toBe(200);
        expect(full.bytes.equals(data)).toBe(true);
        for (const [s, e] of randomRanges(rand, size, 6)) {
          const got = await get(a, objectId, [s, e]);
          expect(got.status).toBe(206);
          expect(got.bytes.equals(data.subarray(s, e + 1))).toBe(true);
        }
        // Marking is asynchronous (after the bytes): wait for it.
        let states = await blockStates(gw, objectId);
        for (let i = 0; i < 50 && !expectedMarks(policy, blocks, damaged).every((b) => states[b.index]!.state !== 'ok'); i++) {
          await new Promise((r) => setTimeout(r, 50));
          states = await blockStates(gw, objectId);
        }
        expect(states).toHaveLength(n);
        for (const b of blocks) if (!damaged.has(b)) expect(states[b.index]!.state).toBe('ok');
        for (const b of expectedMarks(policy, blocks, damaged)) expect(states[b.index]!.state).not.toBe('ok');
        // Damage the reads did not meet (parity, later copies) is the scrub's to find; then repair.
        await gw.sql(`UPDATE object_blocks SET state = 'corrupt' WHERE object_id = $1 AND index = ANY($2::int[]) AND state = 'ok'`, [objectId, [...damaged].map((b) => b.index)]);
        expect(await gw.app.get(BlockMaintenance).repair(a.userID, objectId)).toEqual({ repaired: damaged.size, failed: 0 });
        await expectRestored(objectId, data);
      }
    });

    it('n−k+1 blocks lost: a clean error or a cut connection, never a wrong byte', async () => {
      const rand = seeded(3000 + size);
      const data = seededBytes(size * 13, size);
      const { objectId, blocks } = await putRedundant(gw, a, pkg, `l/${++seq}`, data, policy, spaces);
      const order = blocks.map((b) => ({ b, r: rand() })).sort((x, y) => x.r - y.r).map((x) => x.b);
      const lost = order.slice(0, tolerated(policy) + 1);
      for (const [i, b] of lost.entries()) {
        if (i % 2 === 0) await deleteBlock(gw, b);
        else await flipByte(gw, b, Math.floor(rand() * b.size));
      }
      for (const range of [undefined, ...randomRanges(rand, size, 4)]) {
        const got = await get(a, objectId, range);
        if (got.status >= 400) {
          expect(got.json).toEqual({ code: 'OperationFailed', message: expect.any(String), data: null });
          continue;
        }
        const want = range ? data.subarray(range[0], range[1] + 1) : data;
        // A complete answer must be the right bytes (a range may miss the damage); else it was cut.
        if (!got.cut) expect(got.bytes.equals(want)).toBe(true);
      }
    });
  });

  async function expectRestored(objectId: number, data: Buffer) {
    const rows: any[] = await gw.sql('SELECT index, user_space_id, file_hash, size, state FROM object_blocks WHERE object_id = $1 ORDER BY index', [objectId]);
    for (const r of rows) {
      expect(r.state).toBe('ok');
      const b = { index: r.index, userSpaceId: Number(r.user_space_id), fileHash: r.file_hash, size: Number(r.size) };
      const bytes = await blockBytes(gw, b);
      expect(bytes && fullHashOf(bytes)).toBe(b.fileHash);
    }
    const full = await get(a, objectId);
    expect(full.bytes.equals(data)).toBe(true);
  }

  it('scrub finds damage it was not told about, fills missing granule sums, and repair restores the blocks', async () => {
    const maint = gw.app.get(BlockMaintenance);
    await maint.scrub({ olderThanSeconds: 0, bytesPerSecond: 0 });
    const data = seededBytes(999, 1_500_000);
    const { objectId, blocks } = await putRedundant(gw, a, pkg, `s/${++seq}`, data, { type: 'ec', k: 4, n: 6, chunkSize: 64 * 1024 }, spaces);
    await flipByte(gw, blocks[5]!, 1000);
    await deleteBlock(gw, blocks[1]!);
    // A legacy block (no sums): the scrub fills them in.
    await gw.sql('UPDATE object_blocks SET granule_sums = NULL, granule_size = NULL WHERE object_id = $1 AND index = 2', [objectId]);
    const report = await maint.scrub({ olderThanSeconds: 0, bytesPerSecond: 0 });
    expect(report.damaged).toBeGreaterThanOrEqual(2); // and what the other tests left damaged
    const states = await blockStates(gw, objectId);
    expect(states.map((s) => s.state)).toEqual(['ok', 'missing', 'ok', 'ok', 'ok', 'corrupt']);
    const [legacy] = await gw.sql('SELECT granule_size, octet_length(granule_sums) AS len FROM object_blocks WHERE object_id = $1 AND index = 2', [objectId]);
    expect(legacy.granule_size).toBe(64 * 1024);
    expect(Number(legacy.len)).toBeGreaterThan(0);
    expect(await maint.sweep()).toBeGreaterThanOrEqual(1);
    expect(await maint.repair(a.userID, objectId)).toEqual({ repaired: 2, failed: 0 });
    await expectRestored(objectId, data);
    // Idempotent: nothing left to do.
    expect(await maint.repair(a.userID, objectId)).toEqual({ repaired: 0, failed: 0 });
  });

  it.each([
    ['ec k=4 n=6', { type: 'ec', k: 4, n: 6, chunkSize: 256 * 1024 }, 3_000_001],
    ['rep 3', { type: 'rep', repCount: 3 }, 1_000_003],
  ])('written by the upload path (%s): damage ≤ n−k read past, reported by object/blocks, repaired', async (_l, redundancy, size) => {
    const data = seededBytes(size, size);
    const up = await uploadFiles(a, pkg, [[`w/${++seq}`, data]], { redundancy });
    expect(up.body.code === 'OK' ? 'OK' : up.body.message).toBe('OK');
    const objectId: number = up.body.data.uploadeds[0].objectID;
    const rows: any[] = await gw.sql('SELECT index, user_space_id, file_hash, size FROM object_blocks WHERE object_id = $1 ORDER BY index', [objectId]);
    const blocks: StoredBlock[] = rows.map((r) => ({ index: r.index, userSpaceId: Number(r.user_space_id), fileHash: r.file_hash, size: Number(r.size) }));
    const p = redundancy as StoredPolicy;
    expect(blocks).toHaveLength(blockCount(p));
    await deleteBlock(gw, blocks[0]!);
    if (tolerated(p) > 1) await flipByte(gw, blocks[1]!, 10);
    const full = await get(a, objectId);
    expect(full.status).toBe(200);
    expect(full.bytes.equals(data)).toBe(true);
    const ranged = await get(a, objectId, [size - 5000, size - 1]);
    expect(ranged.bytes.equals(data.subarray(size - 5000))).toBe(true);
    let map: any;
    for (let i = 0; i < 50; i++) {
      map = (await a.client.get('/v1/object/blocks', { objectID: objectId })).body.data;
      if (map.blocks.filter((b: any) => b.state !== 'ok').length >= (tolerated(p) > 1 ? 2 : 1)) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(map.blocks.find((b: any) => b.index === 0).state).toBe('missing');
    if (tolerated(p) > 1) expect(map.blocks.find((b: any) => b.index === 1).state).toBe('corrupt');
    await gw.app.get(BlockMaintenance).repair(a.userID, objectId);
    await expectRestored(objectId, data);
    map = (await a.client.get('/v1/object/blocks', { objectID: objectId })).body.data;
    expect(map.blocks.every((b: any) => b.state === 'ok')).toBe(true);
  });

  it('rep: a byte flipped in the middle of the first copy is read past from another copy, invisibly', async () => {
    const size = 8 * 1024 * 1024 + 17;
    const data = seededBytes(4242, size);
    const { objectId, blocks } = await putRedundant(gw, a, pkg, `m/${++seq}`, data, { type: 'rep', repCount: 3 }, spaces);
    await flipByte(gw, blocks[0]!, Math.floor(size / 2));
    const got = await get(a, objectId);
    expect(got.status).toBe(200);
    expect(got.cut).toBe(false);
    expect(got.bytes.equals(data)).toBe(true);
    let states = await blockStates(gw, objectId);
    for (let i = 0; i < 50 && states[0]!.state === 'ok'; i++) {
      await new Promise((r) => setTimeout(r, 50));
      states = await blockStates(gw, objectId);
    }
    expect(states.map((s) => s.state)).toEqual(['corrupt', 'ok', 'ok']);
  });

  it('another tenant reading the object gets DataNotFound', async () => {
    const b = await gw.tenant();
    const data = seededBytes(77, 300_000);
    const { objectId } = await putRedundant(gw, a, pkg, `x/${++seq}`, data, { type: 'ec', k: 2, n: 3, chunkSize: 64 * 1024 }, spaces);
    const got = await get(b, objectId);
    expect(got.status).toBe(404);
  });
});

/** Bytes of a block that carry the object (ec data blocks end in zero padding no read looks at). */
function usedBytes(policy: StoredPolicy, size: number, b: StoredBlock): number {
  if (policy.type !== 'ec' || b.index >= policy.k) return b.size;
  const stripe = policy.k * policy.chunkSize;
  const stripes = Math.ceil(size / stripe);
  const last = size - (stripes - 1) * stripe;
  return (stripes - 1) * policy.chunkSize + Math.max(0, Math.min(policy.chunkSize, last - b.index * policy.chunkSize));
}

/**
 * The damaged blocks the reads above must have found: ec, the damaged data blocks (every read goes
 * through them; parity is read only to rebuild); rep, the damaged copies before the first good one.
 */
function expectedMarks(policy: StoredPolicy, blocks: StoredBlock[], damaged: Set<StoredBlock>): StoredBlock[] {
  if (policy.type === 'ec') return blocks.filter((b) => b.index < policy.k && damaged.has(b));
  const out: StoredBlock[] = [];
  for (const b of blocks) {
    if (!damaged.has(b)) break;
    out.push(b);
  }
  return out;
}
