import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { crc32 } from 'node:zlib';
import { createHash } from 'node:crypto';
import { BlockFault, NotEnoughBlocks, ecRead, rebuildBlock, replicaRead, verifiedRange, type BlockSource } from './decoder.js';
import { GranuleSummer, firstBadGranule, granuleSpan } from './granules.js';
import { StripeLayout } from './layout.js';
import { referenceCodec } from './codec/index.js';

// Pure logic against a plain-buffer model: in-memory block sources (the only doubles here), fixed seeds.
const SEED = { seed: 0x5eed, numRuns: 150 };

function bytes(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

/** A block in memory, read in chunks of `chunk` bytes; `stored` may differ from what the sums describe. */
function memSource(index: number, good: Buffer, granule: number, stored: Buffer | null = good, chunk = 1000): BlockSource & { read_: number } {
  const summer = new GranuleSummer(granule);
  summer.update(good);
  const sums = summer.finish();
  const src = {
    index,
    size: good.length,
    fileHash: 'Full' + createHash('sha256').update(good).digest('hex').toUpperCase(),
    granuleSize: granule,
    read_: 0,
    classify: () => 'missing' as const,
    async read(start: number, end: number) {
      if (!stored) throw new Error('gone');
      const s = stored;
      return (async function* () {
        for (let o = start; o < Math.min(end, s.length); o += chunk) {
          const c = s.subarray(o, Math.min(end, o + chunk, s.length));
          src.read_ += c.length;
          yield c;
        }
      })();
    },
    async sums(g0: number, g1: number) {
      return sums.subarray(g0 * 4, (g1 + 1) * 4);
    },
  };
  return src;
}

async function collect(gen: AsyncIterable<Buffer>): Promise<{ out: Buffer; err?: unknown }> {
  const parts: Buffer[] = [];
  try {
    for await (const b of gen) parts.push(b);
  } catch (err) {
    return { out: Buffer.concat(parts), err };
  }
  return { out: Buffer.concat(parts) };
}

const flip = (b: Buffer, at: number) => {
  const c = Buffer.from(b);
  c[at]! ^= 0x81;
  return c;
};

describe('stripe layout and granule arithmetic against a plain buffer', () => {
  it('segments cut any span into chunk pieces of data blocks that give back exactly the span; columnRange covers them', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5000 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 300 }), fc.nat(), fc.nat(), (size, k, chunk, x, y) => {
        const layout = new StripeLayout(size, k, chunk);
        const data = bytes(size, size + k + chunk);
        const blocks = Array.from({ length: k }, () => Buffer.alloc(layout.blockSize));
        for (let o = 0; o < size; o++) {
          const { block, blockOffset } = layout.locate(o);
          blocks[block]![blockOffset] = data[o]!;
        }
        const start = x % size;
        const end = start + (y % (size - start));
        const segs = layout.segments(start, end);
        const got = Buffer.concat(segs.map((s) => blocks[s.block]!.subarray(s.blockStart, s.blockEnd + 1)));
        expect(got.equals(data.subarray(start, end + 1))).toBe(true);
        const col = layout.columnRange(start, end);
        for (const s of segs) expect(s.blockStart >= col.blockStart && s.blockEnd <= col.blockEnd).toBe(true);
      }),
      SEED,
    );
  });

  it('granule sums are the CRC-32 of each granule whatever the chunking; granuleSpan covers a range with less than a granule more at each end', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4000 }), fc.integer({ min: 1, max: 700 }), fc.array(fc.integer({ min: 1, max: 900 }), { minLength: 1 }), fc.nat(), fc.nat(), (size, g, cuts, x, y) => {
        const data = bytes(size, size * 7 + g);
        const summer = new GranuleSummer(g);
        for (let o = 0, i = 0; o < size; i++) {
          const n = cuts[i % cuts.length]!;
          summer.update(data.subarray(o, o + n));
          o += n;
        }
        const sums = summer.finish();
        expect(sums.length).toBe(Math.ceil(size / g) * 4);
        for (let i = 0; i * g < size; i++) expect(sums.readUInt32BE(i * 4)).toBe(crc32(data.subarray(i * g, (i + 1) * g)) >>> 0);
        const from = x % size;
        const to = from + (y % (size - from));
        const span = granuleSpan(from, to, size, g);
        expect(span.start % g).toBe(0);
        expect(span.start <= from && from - span.start < g).toBe(true);
        expect(span.end > to && (span.end === size || span.end % g === 0) && span.end - (to + 1) < g).toBe(true);
        expect(firstBadGranule(data.subarray(span.start, span.end), span.start, sums, g)).toBe(-1);
        const bad = flip(data, from);
        expect(firstBadGranule(bad.subarray(span.start, span.end), span.start, sums, g)).toBe(Math.floor(from / g));
      }),
      SEED,
    );
  });
});

describe('verified reads', () => {
  it('a range is exact, reads at most a granule more at each end, and stops before a damaged granule', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 5000 }), fc.integer({ min: 1, max: 600 }), fc.nat(), fc.nat(), fc.option(fc.nat()), async (size, g, x, y, damage) => {
        const data = bytes(size, size + g);
        const from = x % size;
        const to = from + (y % (size - from));
        const at = damage === null ? -1 : damage % size;
        const src = memSource(0, data, g, at < 0 ? data : flip(data, at), 333);
        const { out, err } = await collect(verifiedRange(src, from, to));
        const span = granuleSpan(from, to, size, g);
        if (at >= span.start && at < span.end) {
          expect(err).toBeInstanceOf(BlockFault);
          expect((err as BlockFault).kind).toBe('corrupt');
          // Only the granules before the damaged one were given out, and they are right.
          expect(out.equals(data.subarray(from, from + out.length))).toBe(true);
          expect(from + out.length).toBeLessThanOrEqual(Math.max(from, Math.floor(at / g) * g));
        } else {
          expect(err).toBeUndefined();
          expect(out.equals(data.subarray(from, to + 1))).toBe(true);
          expect(src.read_).toBeLessThanOrEqual(to - from + 1 + 2 * g);
        }
      }),
      SEED,
    );
  });

  it('rep: a copy failing mid-range hands over to the next at the same byte', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 4000 }), fc.array(fc.option(fc.nat(), { nil: undefined }), { minLength: 1, maxLength: 4 }), fc.nat(), fc.nat(), async (size, damages, x, y) => {
        const data = bytes(size, size);
        const copies = damages.map((d, i) => memSource(i, data, 128, d === undefined ? data : flip(data, d % size), 77));
        const from = x % size;
        const to = from + (y % (size - from));
        const faults: number[] = [];
        const { out, err } = await collect(replicaRead(copies, from, to, (f) => faults.push(f.index)));
        expect(out.equals(data.subarray(from, from + out.length))).toBe(true);
        if (!err) expect(out.length).toBe(to - from + 1);
        else expect(err).toBeInstanceOf(NotEnoughBlocks);
        if (damages.some((d) => d === undefined)) expect(err).toBeUndefined();
      }),
      SEED,
    );
  });
});

describe('erasure-coded reads', () => {
  const shapes = fc.constantFrom([2, 3], [4, 6], [2, 5], [3, 5], [1, 2], [5, 8]);

  async function encoded(size: number, k: number, n: number, chunk: number) {
    const layout = new StripeLayout(size, k, chunk);
    const data = bytes(size, size * 3 + k);
    const codec = referenceCodec(k, n);
    const blocks = Array.from({ length: n }, () => Buffer.alloc(layout.blockSize));
    for (let s = 0; s < layout.stripes; s++) {
      const chunks = Array.from({ length: k }, (_, i) => {
        const c = Buffer.alloc(chunk);
        const o = s * layout.stripeBytes + i * chunk;
        if (o < size) data.copy(c, 0, o, Math.min(size, o + chunk));
        return c;
      });
      const parity = await codec.encode(chunks);
      [...chunks, ...parity].forEach((c, i) => c.copy(blocks[i]!, s * chunk));
    }
    return { layout, data, codec, blocks };
  }

  it('any ≤ n−k blocks lost or corrupt: every range exact; more: only right bytes, then NotEnoughBlocks', async () => {
    await fc.assert(
      fc.asyncProperty(shapes, fc.integer({ min: 1, max: 6000 }), fc.integer({ min: 1, max: 8 }), fc.array(fc.nat(), { maxLength: 4 }), fc.boolean(), fc.boolean(), fc.nat(), fc.nat(), async ([k, n], size, chunkUnits, hits, known, stream, x, y) => {
        const chunk = chunkUnits * 64;
        const { layout, data, codec, blocks } = await encoded(size, k!, n!, chunk);
        const damaged = [...new Set(hits.map((h) => h % n!))];
        const sources = blocks.map((b, i) => {
          if (!damaged.includes(i)) return memSource(i, b, 128, b, 100);
          if (known) return undefined; // known bad before the read
          const h = hits.find((v) => v % n! === i)!;
          return memSource(i, b, 128, h % 2 ? null : flip(b, h % b.length), 100);
        });
        const start = x % size;
        const end = start + (y % (size - start));
        const { out, err } = await collect(ecRead({ layout, k: k!, n: n!, blocks: sources, codec, onFault: () => undefined, window: 256, stream }, start, end));
        expect(out.equals(data.subarray(start, start + out.length))).toBe(true);
        if (damaged.length <= n! - k!) {
          expect(err).toBeUndefined();
          expect(out.length).toBe(end - start + 1);
        } else if (err) expect(err).toBeInstanceOf(NotEnoughBlocks);
      }),
      { ...SEED, numRuns: 120 },
    );
  });

  it('a healthy range decodes nothing and reads at most a granule more than the span at each end of each block', async () => {
    await fc.assert(
      fc.asyncProperty(shapes, fc.integer({ min: 1, max: 6000 }), fc.nat(), fc.nat(), async ([k, n], size, x, y) => {
        const chunk = 256; // a multiple of the granule: chunk boundaries are granule boundaries
        const { layout, data, blocks } = await encoded(size, k!, n!, chunk);
        const sources = blocks.map((b, i) => memSource(i, b, 128, b, 100));
        const start = x % size;
        const end = start + (y % (size - start));
        const noDecode = { reconstruct: async () => Promise.reject(new Error('decoded a healthy read')) };
        const { out, err } = await collect(ecRead({ layout, k: k!, n: n!, blocks: sources, codec: noDecode, onFault: () => undefined }, start, end));
        expect(err).toBeUndefined();
        expect(out.equals(data.subarray(start, end + 1))).toBe(true);
        const read = sources.reduce((t, s) => t + s.read_, 0);
        expect(read).toBeLessThanOrEqual(end - start + 1 + 2 * 128);
        for (let i = k!; i < n!; i++) expect(sources[i]!.read_).toBe(0);
      }),
      SEED,
    );
  });

  it('rebuildBlock gives back any block, data or parity, from k others', async () => {
    await fc.assert(
      fc.asyncProperty(shapes, fc.integer({ min: 1, max: 5000 }), fc.nat(), fc.nat(), async ([k, n], size, t, other) => {
        const { layout, codec, blocks } = await encoded(size, k!, n!, 192);
        const target = t % n!;
        const lost = other % n!;
        const sources = blocks.map((b, i) => (i === target || (i === lost && n! - k! > 1) ? undefined : memSource(i, b, 128)));
        const { out, err } = await collect(rebuildBlock({ k: k!, n: n!, blocks: sources, codec, onFault: () => undefined, window: 384 }, target, layout.blockSize));
        expect(err).toBeUndefined();
        expect(out.equals(blocks[target]!)).toBe(true);
      }),
      { ...SEED, numRuns: 80 },
    );
  });
});
