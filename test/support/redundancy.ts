import { createCipheriv } from 'node:crypto';
import { Readable } from 'node:stream';
import { GranuleSummer, StripeLayout, codecFor, type StoredPolicy } from '#redundancy';
import { ShardRegistry, type ShardStore } from '#shard-store';
import { SpaceDrivers, SpacesService } from '#user-spaces';
import type { TestGateway, Tenant } from './gateway.js';
import { uploadFiles } from './objects.js';

/**
 * Redundant objects for read, scrub and repair tests, written without the encoding write path: the
 * object is uploaded plainly (so its row, size and fileHash are the gateway's), then its block map is
 * replaced by blocks encoded here (rep copies or ec blocks, one per space round-robin), staged and
 * published through ShardStore, with granule sums. Also damages blocks (delete, flip a byte) through
 * the spaces' drivers, so it works on Local, S3 and OBS alike.
 */
export const GRANULE = 64 * 1024;

export async function shardSpaces(t: Tenant, count: number, storages?: Array<{ storage: Record<string, unknown>; credential: Record<string, unknown> }>): Promise<number[]> {
  const ids: number[] = [];
  for (let i = 0; i < count; i++) {
    const s = storages?.[i] ?? { storage: { type: 'Local', rootDir: `red-${i}` }, credential: { type: 'Local' } };
    const res = await t.client.post('/v1/userSpace/create', { name: `red-${i}`, ...s, shardStore: { maxSize: 2 ** 40 }, workingDir: `.jcs-${i}` });
    if (res.body.code !== 'OK') throw new Error(`space ${i}: ${JSON.stringify(res.body)}`);
    ids.push(res.body.data.userSpace.userSpaceID);
  }
  return ids;
}

/** The blocks a policy stores for `data` (rep: copies; ec: k data + n−k parity; none: the data). */
export async function encodeBlocks(data: Buffer, p: StoredPolicy): Promise<Buffer[]> {
  if (p.type === 'none') return [data];
  if (p.type === 'rep') return Array.from({ length: p.repCount }, () => data);
  const layout = new StripeLayout(data.length, p.k, p.chunkSize);
  const blocks = Array.from({ length: p.n }, () => Buffer.alloc(layout.blockSize));
  const codec = codecFor(p.k, p.n);
  for (let s = 0; s < layout.stripes; s++) {
    const chunks = Array.from({ length: p.k }, (_, i) => {
      const c = Buffer.alloc(p.chunkSize);
      const from = s * layout.stripeBytes + i * p.chunkSize;
      if (from < data.length) data.copy(c, 0, from, Math.min(data.length, from + p.chunkSize));
      return c;
    });
    const parity = await codec.encode(chunks);
    [...chunks, ...parity].forEach((c, i) => c.copy(blocks[i]!, s * p.chunkSize));
  }
  return blocks;
}

export interface StoredBlock {
  index: number;
  userSpaceId: number;
  fileHash: string;
  size: number;
}

async function storeOf(gw: TestGateway, spaceId: number): Promise<ShardStore> {
  const space = (await gw.app.get(SpacesService).byIds([spaceId])).get(spaceId)!;
  return gw.app.get(SpaceDrivers).shardStoreFor(space);
}

/** Uploads `data` at `path` and rewrites its block map to `policy` over `spaces` (block i on spaces[i % length]). */
export async function putRedundant(gw: TestGateway, t: Tenant, pkg: number, path: string, data: Buffer, policy: StoredPolicy, spaces: number[]): Promise<{ objectId: number; blocks: StoredBlock[] }> {
  const up = await uploadFiles(t, pkg, [[path, data]]);
  if (up.body.code !== 'OK') throw new Error(`upload: ${JSON.stringify(up.body)}`);
  const objectId: number = up.body.data.uploadeds[0].objectID;
  const encoded = await encodeBlocks(data, policy);
  const registry = gw.app.get(ShardRegistry);
  const blocks: StoredBlock[] = [];
  const sums: Buffer[] = [];
  for (const [index, bytes] of encoded.entries()) {
    const userSpaceId = spaces[index % spaces.length]!;
    const store = await storeOf(gw, userSpaceId);
    const staged = await store.stage(Readable.from([bytes]));
    await store.publish([staged], (u) => registry.touch(userSpaceId, u));
    const summer = new GranuleSummer(GRANULE);
    summer.update(bytes);
    sums.push(summer.finish());
    blocks.push({ index, userSpaceId, fileHash: staged.fileHash, size: staged.size });
  }
  const redundancy = policy.type === 'ec' ? { type: 'ec', k: policy.k, n: policy.n, chunkSize: policy.chunkSize } : policy;
  await gw.sql(
    `WITH d AS (DELETE FROM object_blocks WHERE object_id = $1),
          u AS (UPDATE objects SET redundancy = $2::jsonb WHERE object_id = $1)
     SELECT 1`,
    [objectId, JSON.stringify(redundancy)],
  );
  await gw.sql(
    `INSERT INTO object_blocks (object_id, index, user_space_id, file_hash, size, state, granule_size, granule_sums)
     SELECT $1, t.i, t.s, t.h, t.z, 'ok', $7, t.g FROM unnest($2::int[], $3::bigint[], $4::text[], $5::bigint[], $6::bytea[]) AS t(i, s, h, z, g)`,
    [objectId, blocks.map((b) => b.index), blocks.map((b) => b.userSpaceId), blocks.map((b) => b.fileHash), blocks.map((b) => b.size), sums, GRANULE],
  );
  return { objectId, blocks };
}

/** Deletes a block's file from its space. */
export async function deleteBlock(gw: TestGateway, b: StoredBlock): Promise<void> {
  await (await storeOf(gw, b.userSpaceId)).remove(b.fileHash);
}

/** Flips one byte of a block's file at `offset` (the file keeps its size, so only checksums tell). */
export async function flipByte(gw: TestGateway, b: StoredBlock, offset: number): Promise<void> {
  const store = await storeOf(gw, b.userSpaceId);
  const bytes = Buffer.from(await store.readBytes(b.fileHash, b.size));
  bytes[offset]! ^= 0x5a;
  await store.driver.write(store.blockKey(b.fileHash), Readable.from([bytes]), { size: bytes.length });
}

/** The block's current bytes, or null when its file is gone or has another size. */
export async function blockBytes(gw: TestGateway, b: StoredBlock): Promise<Buffer | null> {
  const store = await storeOf(gw, b.userSpaceId);
  return store.readBytes(b.fileHash, b.size).catch(() => null);
}

export async function blockStates(gw: TestGateway, objectId: number): Promise<Array<{ index: number; user_space_id: string; file_hash: string; state: string }>> {
  return gw.sql('SELECT index, user_space_id, file_hash, state, checked_at FROM object_blocks WHERE object_id = $1 ORDER BY index', [objectId]);
}

/** A seeded PRNG (mulberry32): the tests' random choices are the same on every run. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Deterministic pseudo-random bytes (AES-CTR keyed by the seed). */
export function seededBytes(seed: number, n: number): Buffer {
  const key = Buffer.alloc(16);
  key.writeUInt32BE(seed >>> 0);
  return createCipheriv('aes-128-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(n));
}
