import { quotaExceeded } from '#common';
import { blockCount, blocksNeeded, type StoredPolicy } from './policy.js';

/** A user space that may take blocks: one of the tenant's spaces with a shard store. */
export interface PlacementCandidate {
  userSpaceId: number;
  /** space_usage.used_bytes (blocks and parts referencing the space). */
  usedBytes: number;
  /** shardStore.maxSize. */
  maxSize: number;
}

/** Where each block of an object goes, and the policy that is actually stored. */
export interface Placement {
  stored: StoredPolicy;
  /** userSpaceId of block i (length = blockCount(stored)). */
  spaces: number[];
}

/**
 * The spaces with room (used < maxSize), the affinity first, then by userSpaceId (a stable order, so
 * two uploads of one tenant pick the same spaces).
 */
export function orderCandidates(candidates: PlacementCandidate[], affinity?: number): PlacementCandidate[] {
  return candidates
    .filter((c) => c.usedBytes < c.maxSize)
    .sort((a, b) => (a.userSpaceId === affinity ? -1 : 0) - (b.userSpaceId === affinity ? -1 : 0) || a.userSpaceId - b.userSpaceId);
}

/**
 * Places an object's blocks (issue 9 §2, JCS-pub's rule): one block per space when there are at least
 * as many candidates as blocks, else the spaces repeat round-robin. `rep` copies go to distinct spaces
 * only: copies in one space would be one content-addressed file, so fewer spaces than repCount store
 * as many copies as there are spaces, and the stored policy says so (`rep` with that repCount).
 * No candidate with room → QuotaExceeded (507), before anything is stored.
 */
export function placeBlocks(policy: StoredPolicy, candidates: PlacementCandidate[], affinity?: number): Placement {
  const order = orderCandidates(candidates, affinity);
  if (order.length === 0) throw quotaExceeded('no user space with a shard store has room left');
  if (policy.type === 'rep') {
    const copies = Math.min(policy.repCount, order.length);
    return { stored: { type: 'rep', repCount: copies }, spaces: order.slice(0, copies).map((c) => c.userSpaceId) };
  }
  const n = blockCount(policy);
  return { stored: policy, spaces: Array.from({ length: n }, (_, i) => order[i % order.length]!.userSpaceId) };
}

/**
 * The most user spaces that can be lost with the object still readable: ≥ blocksNeeded distinct good
 * (state ok) blocks left. Losing the spaces that hold the most distinct good blocks first is the worst
 * case, and exact here: every block index lives in one space, so a space's loss removes exactly its
 * own indexes. 0 when the object is already unreadable or one more loss would make it so.
 */
export function toleratedSpaceLosses(
  policy: StoredPolicy | { type: 'segment'; segments: number[] },
  blocks: Array<{ index: number; userSpaceId: number; state: string }>,
): number {
  // A completed multipart upload's segments are all needed (each holds its own bytes).
  const need = policy.type === 'segment' ? policy.segments.length : blocksNeeded(policy);
  const bySpace = new Map<number, Set<number>>();
  for (const b of blocks) {
    if (b.state !== 'ok') continue;
    let s = bySpace.get(b.userSpaceId);
    if (!s) bySpace.set(b.userSpaceId, (s = new Set()));
    s.add(b.index);
  }
  const distinct = (spaces: Array<Set<number>>) => new Set(spaces.flatMap((s) => [...s])).size;
  // Largest first; among equals the order does not matter (each holds only its own indexes).
  const remaining = [...bySpace.values()].sort((a, b) => b.size - a.size);
  let losses = 0;
  while (remaining.length > 0 && distinct(remaining.slice(1)) >= need) {
    remaining.shift();
    losses++;
  }
  return losses;
}
