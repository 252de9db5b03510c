import { badArgument } from '#common';

/** What an object's blocks are (spec §5's stored redundancy types). */
export type StoredPolicy = { type: 'none' } | { type: 'rep'; repCount: number } | { type: 'ec'; k: number; n: number; chunkSize: number };

/** A redundancy policy: a stored type, or ours, `auto`, which picks one by the object's size. */
export type RedundancyPolicy = StoredPolicy | { type: 'auto'; threshold: number; small: StoredPolicy; large: StoredPolicy };

/** Limits of a policy (issue 9): n ≤ 32 blocks; chunks a multiple of 64 bytes, at most 64 MiB. */
export const MAX_BLOCKS = 32;
export const MAX_CHUNK_SIZE = 64 * 1024 * 1024;
export const CHUNK_ALIGN = 64;

/**
 * Parses and validates a policy from untrusted JSON (`what` names it in the error). Unknown types,
 * extra or missing fields, k ≥ n, n > 32, bad chunk sizes and nested `auto` are BadArgument.
 */
export function parsePolicy(v: unknown, what = 'redundancy'): RedundancyPolicy {
  const o = asObject(v, what);
  if (o.type === 'auto') {
    onlyKeys(o, ['type', 'threshold', 'small', 'large'], what);
    const threshold = int(o.threshold, `${what}.threshold`, 0);
    return { type: 'auto', threshold, small: parseStored(o.small, `${what}.small`), large: parseStored(o.large, `${what}.large`) };
  }
  return parseStored(v, what);
}

function parseStored(v: unknown, what: string): StoredPolicy {
  const o = asObject(v, what);
  switch (o.type) {
    case 'none':
      onlyKeys(o, ['type'], what);
      return { type: 'none' };
    case 'rep': {
      onlyKeys(o, ['type', 'repCount'], what);
      const repCount = int(o.repCount, `${what}.repCount`, 1);
      if (repCount > MAX_BLOCKS) throw badArgument(`${what}.repCount must be at most ${MAX_BLOCKS}`);
      return { type: 'rep', repCount };
    }
    case 'ec': {
      onlyKeys(o, ['type', 'k', 'n', 'chunkSize'], what);
      const k = int(o.k, `${what}.k`, 1);
      const n = int(o.n, `${what}.n`, 1);
      const chunkSize = int(o.chunkSize, `${what}.chunkSize`, CHUNK_ALIGN);
      if (k >= n) throw badArgument(`${what}: k must be less than n`);
      if (n > MAX_BLOCKS) throw badArgument(`${what}.n must be at most ${MAX_BLOCKS}`);
      if (chunkSize % CHUNK_ALIGN !== 0 || chunkSize > MAX_CHUNK_SIZE)
        throw badArgument(`${what}.chunkSize must be a multiple of ${CHUNK_ALIGN} of at most ${MAX_CHUNK_SIZE}`);
      return { type: 'ec', k, n, chunkSize };
    }
    default:
      throw badArgument(`${what}.type must be one of none, rep, ec, auto`);
  }
}

/** The stored policy `policy` gives an object of `size` bytes (auto: `large` from `threshold` bytes on). */
export function resolvePolicy(policy: RedundancyPolicy, size: number): StoredPolicy {
  if (policy.type !== 'auto') return policy;
  return size >= policy.threshold ? policy.large : policy.small;
}

/** Blocks a stored policy writes: none 1, rep repCount, ec n. */
export function blockCount(p: StoredPolicy): number {
  return p.type === 'none' ? 1 : p.type === 'rep' ? p.repCount : p.n;
}

/** Distinct good blocks needed to read: none and rep 1, ec k. */
export function blocksNeeded(p: StoredPolicy): number {
  return p.type === 'ec' ? p.k : 1;
}

/** Good blocks a write must have made durable to commit (issue 9 §3): ec k+1 (at most n), rep 2 (at most repCount), none 1. */
export function writeQuorum(p: StoredPolicy): number {
  return p.type === 'ec' ? Math.min(p.k + 1, p.n) : p.type === 'rep' ? Math.min(2, p.repCount) : 1;
}

export function samePolicy(a: StoredPolicy, b: StoredPolicy): boolean {
  if (a.type !== b.type) return false;
  if (a.type === 'rep') return a.repCount === (b as typeof a).repCount;
  if (a.type === 'ec') {
    const e = b as typeof a;
    return a.k === e.k && a.n === e.n && a.chunkSize === e.chunkSize;
  }
  return true;
}

function asObject(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw badArgument(`${what} must be an object with a "type"`);
  return v as Record<string, unknown>;
}

function onlyKeys(o: Record<string, unknown>, keys: string[], what: string): void {
  for (const k of Object.keys(o)) if (!keys.includes(k)) throw badArgument(`${what} has an unknown field ${JSON.stringify(k)}`);
}

function int(v: unknown, what: string, min: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) throw badArgument(`${what} must be an integer of at least ${min}`);
  return v;
}
