import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { DomainError } from '#common';
import { placeBlocks, toleratedSpaceLosses, type PlacementCandidate } from './placement.js';
import type { StoredPolicy } from './policy.js';

const space = (userSpaceId: number, usedBytes = 0, maxSize = 100): PlacementCandidate => ({ userSpaceId, usedBytes, maxSize });
const SEED = 20261202;

describe('placeBlocks', () => {
  it('puts one block per space when there are enough, affinity first, then by ID', () => {
    const p = placeBlocks({ type: 'ec', k: 2, n: 3, chunkSize: 64 }, [space(5), space(2), space(9), space(7)], 9);
    expect(p.spaces).toEqual([9, 2, 5]);
  });

  it('repeats spaces round-robin when there are fewer than blocks (JCS-pub)', () => {
    const p = placeBlocks({ type: 'ec', k: 4, n: 6, chunkSize: 64 }, [space(3), space(1)]);
    expect(p.spaces).toEqual([1, 3, 1, 3, 1, 3]);
    expect(p.stored).toEqual({ type: 'ec', k: 4, n: 6, chunkSize: 64 });
  });

  it('stores rep copies in distinct spaces only: fewer spaces, fewer copies, and the stored policy says so', () => {
    expect(placeBlocks({ type: 'rep', repCount: 3 }, [space(1), space(2)])).toEqual({ stored: { type: 'rep', repCount: 2 }, spaces: [1, 2] });
  });

  it('skips full spaces and refuses with QuotaExceeded 507 when none has room', () => {
    expect(placeBlocks({ type: 'none' }, [space(1, 100), space(2, 99)]).spaces).toEqual([2]);
    let err: unknown;
    try {
      placeBlocks({ type: 'none' }, [space(1, 100), space(2, 150, 100)]);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DomainError);
    expect((err as DomainError).code).toBe('QuotaExceeded');
    expect((err as DomainError).status).toBe(507);
  });

  it('property: n blocks, only spaces with room, each space at most ceil(n / candidates) blocks, distinct when possible', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 12 }),
        fc.array(fc.boolean(), { minLength: 12, maxLength: 12 }),
        fc.integer({ min: 1, max: 31 }),
        fc.integer({ min: 1, max: 32 }),
        (ids, full, k, n0) => {
          const n = Math.max(n0, k + 1);
          const cands = ids.map((id, i) => space(id, full[i] ? 100 : 0));
          const room = cands.filter((c) => c.usedBytes < c.maxSize).map((c) => c.userSpaceId);
          if (room.length === 0) return;
          const p = placeBlocks({ type: 'ec', k, n, chunkSize: 64 }, cands);
          expect(p.spaces).toHaveLength(n);
          p.spaces.forEach((s) => expect(room).toContain(s));
          const counts = new Map<number, number>();
          p.spaces.forEach((s) => counts.set(s, (counts.get(s) ?? 0) + 1));
          [...counts.values()].forEach((c) => expect(c).toBeLessThanOrEqual(Math.ceil(n / room.length)));
          if (room.length >= n) expect(counts.size).toBe(n);
        },
      ),
      { seed: SEED, numRuns: 300 },
    );
  });
});

describe('toleratedSpaceLosses', () => {
  const blocks = (spaces: number[], states: string[] = []) => spaces.map((s, i) => ({ index: i, userSpaceId: s, state: states[i] ?? 'ok' }));

  it('ec with one block per space: n − k; round-robin: fewer', () => {
    const ec: StoredPolicy = { type: 'ec', k: 4, n: 6, chunkSize: 64 };
    expect(toleratedSpaceLosses(ec, blocks([1, 2, 3, 4, 5, 6]))).toBe(2);
    expect(toleratedSpaceLosses(ec, blocks([1, 2, 1, 2, 1, 2]))).toBe(0);
    expect(toleratedSpaceLosses(ec, blocks([1, 2, 3, 1, 2, 3]))).toBe(1);
    expect(toleratedSpaceLosses(ec, blocks([1, 2, 3, 4, 5, 6], ['ok', 'missing']))).toBe(1);
  });

  it('rep and none: every other space; none: 0; an unreadable object: 0', () => {
    expect(toleratedSpaceLosses({ type: 'rep', repCount: 3 }, blocks([1, 2, 3]))).toBe(2);
    expect(toleratedSpaceLosses({ type: 'none' }, blocks([1]))).toBe(0);
    expect(toleratedSpaceLosses({ type: 'ec', k: 2, n: 3, chunkSize: 64 }, blocks([1, 2, 3], ['missing', 'corrupt']))).toBe(0);
  });

  it('property: equals the brute-force minimum over every set of lost spaces', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 4 }),
        fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 9, maxLength: 9 }),
        fc.array(fc.constantFrom('ok', 'ok', 'missing', 'corrupt'), { minLength: 9, maxLength: 9 }),
        (k, m, where, states) => {
          const n = k + m;
          const bs = blocks(where.slice(0, n), states);
          const spaces = [...new Set(bs.map((b) => b.userSpaceId))];
          const readable = (lost: Set<number>) => new Set(bs.filter((b) => b.state === 'ok' && !lost.has(b.userSpaceId)).map((b) => b.index)).size >= k;
          // The largest L such that every set of L lost spaces leaves the object readable.
          let best = 0;
          for (let L = 1; L <= spaces.length; L++) {
            let all = true;
            for (let mask = 0; mask < 1 << spaces.length && all; mask++) {
              const lost = new Set(spaces.filter((_, i) => mask & (1 << i)));
              if (lost.size === L && !readable(lost)) all = false;
            }
            if (all && readable(new Set())) best = L;
            else break;
          }
          expect(toleratedSpaceLosses({ type: 'ec', k, n, chunkSize: 64 }, bs)).toBe(best);
        },
      ),
      { seed: SEED, numRuns: 400 },
    );
  });
});
