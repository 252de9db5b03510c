import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { crc32 } from 'node:zlib';
import { granuleSpan } from './granules.js';
import type { StripeLayout } from './layout.js';

/**
 * The read side of redundancy (issue 9 §5): verified block reads, replica failover and erasure-coded
 * reads that rebuild what a damaged block cannot give. Knows nothing of tenants, spaces or the
 * database: blocks are `BlockSource`s, and what a read finds wrong is reported to `onFault`.
 */

/** What went wrong with a block: gone (or unreadable), or bytes that do not match their checksums. */
export type BlockFaultKind = 'missing' | 'corrupt' | 'unreachable';

export class BlockFault extends Error {
  constructor(
    readonly index: number,
    readonly kind: BlockFaultKind,
    message: string,
  ) {
    super(`block ${index} ${kind}: ${message}`);
  }
}

/** Fewer good blocks than a read needs: the caller answers OperationFailed (or cuts the stream). */
export class NotEnoughBlocks extends Error {}

export interface BlockSource {
  /** Block index (rep: the copy; ec: 0..n-1). */
  readonly index: number;
  readonly size: number;
  /** SHA-256 name of the whole block (`Full…`), checked only by whole-block reads of legacy blocks. */
  readonly fileHash: string;
  /** Absent on legacy blocks (no granule sums): those are verified whole or not at all. */
  readonly granuleSize?: number;
  /** Block bytes [start, end) as chunks; errors are thrown as they are (classified by `classify`). */
  read(start: number, end: number): Promise<AsyncIterable<Buffer> | Iterable<Buffer>>;
  /** The sums of granules g0..g1 (inclusive), 4 bytes each. */
  sums(g0: number, g1: number): Promise<Buffer>;
  /** Turns a read error into a fault kind (a missing key is `missing`, a timeout `unreachable`). */
  classify(err: unknown): BlockFaultKind;
}

/** Legacy blocks up to this size are read whole for a range, so their SHA-256 can be checked. */
export const LEGACY_WHOLE_READ_BYTES = 256 * 1024;

const FULL_HASH = /^Full[0-9A-F]{64}$/;

/**
 * Block bytes [from, to] (inclusive), each granule checked against its CRC-32 before any of its bytes
 * is yielded: reads the granule-aligned span around the range (at most one granule more at each
 * end). A mismatch, a short read or a read error is thrown as a BlockFault after the good granules
 * before it were yielded, so a caller can continue elsewhere at exactly the next byte.
 */
export async function* verifiedRange(src: BlockSource, from: number, to: number): AsyncGenerator<Buffer> {
  if (to < from) return;
  if (src.granuleSize === undefined) {
    yield* legacyRange(src, from, to);
    return;
  }
  const g = src.granuleSize;
  const { start, end } = granuleSpan(from, to, src.size, g);
  const firstGranule = start / g;
  // The sums (maybe a database round trip) and the bytes are fetched at once.
  const sumsP = src.sums(firstGranule, Math.ceil(end / g) - 1).catch((e: Error) => new BlockFault(src.index, 'unreachable', `granule sums: ${e.message}`));
  const chunksP = src.read(start, end).catch((e: Error) => new BlockFault(src.index, src.classify(e), e.message));
  const [sumsOr, chunksOr] = await Promise.all([sumsP, chunksP]);
  if (chunksOr instanceof BlockFault) throw chunksOr;
  if (sumsOr instanceof BlockFault) {
    destroyChunks(chunksOr);
    throw sumsOr;
  }
  const sums = sumsOr;
  const chunks = chunksOr;
  // The current granule's pieces (slices, no copies) and its running CRC.
  let pieces: Buffer[] = [];
  let filled = 0;
  let crc = 0;
  let granule = firstGranule;
  let pos = start; // block offset of the current granule's first byte
  const granuleLen = () => Math.min(g, src.size - granule * g);
  // Verified pieces not yet handed out: adjacent slices of one chunk are merged, so a 1 MiB chunk of
  // 64 KiB granules leaves as one buffer, not sixteen.
  let out: Buffer[] = [];
  const keep = (p: Buffer) => {
    const last = out[out.length - 1];
    if (last && last.buffer === p.buffer && last.byteOffset + last.length === p.byteOffset) out[out.length - 1] = Buffer.from(p.buffer, last.byteOffset, last.length + p.length);
    else out.push(p);
  };
  function release(): void {
    const expected = sums.length >= (granule - firstGranule + 1) * 4 ? sums.readUInt32BE((granule - firstGranule) * 4) : -1;
    if (crc >>> 0 !== expected) throw new BlockFault(src.index, 'corrupt', `granule ${granule} does not match its checksum`);
    let off = pos;
    for (const p of pieces) {
      const a = Math.max(from, off);
      const b = Math.min(to + 1, off + p.length);
      if (b > a) keep(p.subarray(a - off, b - off));
      off += p.length;
    }
    pos += filled;
    pieces = [];
    filled = 0;
    crc = 0;
    granule++;
  }
  try {
    for await (const chunk of chunks) {
      let c = chunk;
      while (c.length > 0 && pos < end) {
        const take = Math.min(granuleLen() - filled, c.length);
        const piece = c.subarray(0, take);
        crc = crc32(piece, crc);
        pieces.push(piece);
        filled += take;
        c = c.subarray(take);
        if (filled === granuleLen()) release();
      }
      if (out.length) {
        const ready = out;
        out = [];
        yield* ready;
      }
      if (pos >= end) break;
    }
  } catch (e) {
    if (e instanceof BlockFault) throw e;
    throw new BlockFault(src.index, src.classify(e), (e as Error).message);
  }
  if (pos < end) throw new BlockFault(src.index, 'corrupt', `block ends at ${pos + filled} bytes where ${src.size} were recorded`);
}

/** Releases an opened read that will not be consumed (a stream's file handle or connection). */
function destroyChunks(chunks: AsyncIterable<Buffer> | Iterable<Buffer>): void {
  const d = (chunks as { destroy?: () => void }).destroy;
  if (typeof d === 'function') d.call(chunks);
}

/**
 * A block without granule sums (written before them): a whole-block read is checked against its
 * SHA-256 (the last chunk held back until it matches); a small block is read whole for a range and
 * checked; other ranges cannot be verified and are passed through.
 */
async function* legacyRange(src: BlockSource, from: number, to: number): AsyncGenerator<Buffer> {
  const checkable = FULL_HASH.test(src.fileHash);
  const whole = checkable && (src.size <= LEGACY_WHOLE_READ_BYTES || (from === 0 && to === src.size - 1));
  const [start, end] = whole ? [0, src.size] : [from, to + 1];
  const hash = whole ? createHash('sha256') : undefined;
  let held: Buffer | undefined;
  let pos = start;
  const clip = (b: Buffer, off: number) => b.subarray(Math.max(0, from - off), Math.max(0, Math.min(b.length, to + 1 - off)));
  try {
    for await (const chunk of await src.read(start, end)) {
      if (!hash) {
        pos += chunk.length;
        yield chunk;
        continue;
      }
      hash.update(chunk);
      if (held) {
        const h = clip(held, pos - held.length);
        if (h.length) yield h;
      }
      held = chunk;
      pos += chunk.length;
    }
  } catch (e) {
    if (e instanceof BlockFault) throw e;
    throw new BlockFault(src.index, src.classify(e), (e as Error).message);
  }
  if (pos !== end) throw new BlockFault(src.index, 'corrupt', `block ends at ${pos} bytes where ${src.size} were recorded`);
  if (hash) {
    if ('Full' + hash.digest('hex').toUpperCase() !== src.fileHash) throw new BlockFault(src.index, 'corrupt', 'bytes do not match the block hash');
    if (held) {
      const h = clip(held, pos - held.length);
      if (h.length) yield h;
    }
  }
}

/** Collects verifiedRange into one buffer (small reads and rebuild windows). */
export async function readVerified(src: BlockSource, from: number, to: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const b of verifiedRange(src, from, to)) parts.push(b);
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
}

/**
 * Bytes [from, to] of a replicated block: from the first copy, and on a fault from the next one at
 * exactly the byte where the last stopped (every yielded byte was verified, so nothing is repeated
 * or skipped). All copies faulty: NotEnoughBlocks.
 */
export async function* replicaRead(copies: BlockSource[], from: number, to: number, onFault: (f: BlockFault) => void): AsyncGenerator<Buffer> {
  let pos = from;
  for (const copy of copies) {
    try {
      for await (const b of verifiedRange(copy, pos, to)) {
        pos += b.length;
        yield b;
      }
      return;
    } catch (e) {
      if (!(e instanceof BlockFault)) throw e;
      onFault(e);
    }
  }
  if (pos <= to) throw new NotEnoughBlocks(`no good copy left for bytes ${pos}..${to}`);
}

/** The part of the codec a read needs (red-codec's interface). */
export interface ReconstructingCodec {
  reconstruct(shards: Array<Buffer | null>, want: number[]): Promise<Buffer[]>;
}

export interface EcReadOptions {
  layout: StripeLayout;
  k: number;
  n: number;
  /** Index → source; undefined for blocks known bad before the read (not `ok`, or not there). */
  blocks: Array<BlockSource | undefined>;
  codec: ReconstructingCodec;
  onFault: (f: BlockFault) => void;
  /** Bytes each data block's stream reads ahead (full reads stream the k data blocks in parallel). */
  readAhead?: number;
  /** false: no read-ahead streams, each piece read on its own (small reads). */
  stream?: boolean;
  /** Rebuild window in block bytes (rounded up to whole granules). */
  window?: number;
  /** Rebuilt bytes of other lost blocks kept for their turn within a stripe, at most this many. */
  cacheBytes?: number;
}

/**
 * Object bytes [start, end] (inclusive) of an `ec` object, in order. Healthy: each data block's part
 * of the span streams (verified) with bounded read-ahead, all of them at once, and nothing is decoded.
 * A data block that is bad (before or during the read) is rebuilt window by window from k others for
 * exactly the columns needed; the other lost data blocks of the same columns are rebuilt in the same
 * call and kept (bounded by `cacheBytes`) until the read reaches them. Fewer than k good blocks:
 * NotEnoughBlocks, after only verified bytes.
 */
export async function* ecRead(o: EcReadOptions, start: number, end: number): AsyncGenerator<Buffer> {
  if (end < start) return;
  const { layout, k, n, codec } = o;
  const bad = new Set<number>();
  o.blocks.forEach((b, i) => b === undefined && bad.add(i));
  for (let i = o.blocks.length; i < n; i++) bad.add(i);
  const fault = (f: BlockFault) => {
    if (bad.has(f.index)) return;
    bad.add(f.index);
    o.onFault(f);
  };
  const segments = layout.segments(start, end);
  const granule = o.blocks.find((b) => b?.granuleSize)?.granuleSize ?? 64 * 1024;
  const window = Math.ceil((o.window ?? 1 << 20) / granule) * granule;
  const cacheBytes = o.cacheBytes ?? 32 << 20;

  // One read-ahead stream per healthy data block, over its whole part of the span.
  const takers = new Map<number, Taker>();
  const openTaker = (i: number) => {
    const segs = segments.filter((s) => s.block === i);
    if (segs.length === 0 || bad.has(i)) return;
    const stream = Readable.from(verifiedRange(o.blocks[i]!, segs[0]!.blockStart, segs[segs.length - 1]!.blockEnd), {
      objectMode: false,
      highWaterMark: o.readAhead ?? 1 << 20,
    });
    takers.set(i, new Taker(stream));
  };
  if (o.stream !== false) for (let i = 0; i < k; i++) openTaker(i);

  // Rebuilt windows of lost data blocks: block → { from, bytes } (block offsets).
  const cache = new Map<number, Array<{ from: number; bytes: Buffer }>>();
  let cached = 0;

  const rebuild = async (target: number, from: number, to: number, later: number[]): Promise<Buffer> => {
    for (;;) {
      const helpers: number[] = [];
      for (let i = 0; i < n && helpers.length < k; i++) if (!bad.has(i) && i !== target) helpers.push(i);
      if (helpers.length < k) throw new NotEnoughBlocks(`only ${helpers.length} good blocks of the ${k} needed`);
      const got = await Promise.all(
        helpers.map((i) =>
          readVerified(o.blocks[i]!, from, to).catch((e: unknown) => {
            if (e instanceof BlockFault) {
              fault(e);
              return null;
            }
            throw e;
          }),
        ),
      );
      if (got.some((b) => b === null)) continue;
      const shards: Array<Buffer | null> = new Array(n).fill(null);
      helpers.forEach((i, j) => (shards[i] = got[j]!));
      const keep: number[] = [];
      for (const b of new Set(later)) {
        if (b === target || cached + (to - from + 1) > cacheBytes) continue;
        keep.push(b);
        cached += to - from + 1;
      }
      const out = await codec.reconstruct(shards, [target, ...keep]);
      keep.forEach((b, j) => {
        const list = cache.get(b) ?? [];
        list.push({ from, bytes: out[j + 1]! });
        cache.set(b, list);
      });
      return out[0]!;
    }
  };

  const fromCache = (b: number, from: number, to: number): Buffer | undefined => {
    const list = cache.get(b);
    if (!list) return undefined;
    const i = list.findIndex((c) => c.from <= from && c.from + c.bytes.length - 1 >= to);
    if (i < 0) return undefined;
    const c = list[i]!;
    const out = c.bytes.subarray(from - c.from, to - c.from + 1);
    if (to === c.from + c.bytes.length - 1) {
      list.splice(i, 1);
      cached -= c.bytes.length;
    }
    return out;
  };

  try {
    for (let si = 0; si < segments.length; si++) {
      const seg = segments[si]!;
      let pos = seg.blockStart;
      const taker = takers.get(seg.block);
      if (taker && !bad.has(seg.block)) {
        try {
          for await (const b of taker.take(seg.blockEnd - seg.blockStart + 1, seg.block)) {
            pos += b.length;
            yield b;
          }
          continue;
        } catch (e) {
          if (!(e instanceof BlockFault)) throw e;
          fault(e);
        }
      }
      if (!taker && !bad.has(seg.block)) {
        // Small reads: each piece read on its own (no read-ahead streams), verified all the same.
        try {
          const b = await readVerified(o.blocks[seg.block]!, seg.blockStart, seg.blockEnd);
          yield b;
          continue;
        } catch (e) {
          if (!(e instanceof BlockFault)) throw e;
          fault(e);
        }
      }
      takers.get(seg.block)?.destroy();
      takers.delete(seg.block);
      // Lost data blocks whose segments in this stripe come later: rebuilt in the same call.
      const later = segments.slice(si + 1).filter((s) => s.stripe === seg.stripe && bad.has(s.block)).map((s) => s.block);
      while (pos <= seg.blockEnd) {
        const wEnd = Math.min(seg.blockEnd, (Math.floor(pos / window) + 1) * window - 1);
        const bytes = fromCache(seg.block, pos, wEnd) ?? (await rebuild(seg.block, pos, wEnd, later));
        pos = wEnd + 1;
        yield bytes;
      }
    }
  } finally {
    for (const t of takers.values()) t.destroy();
    cache.clear();
  }
}

/** Takes exact byte counts from a stream, keeping what is left of a chunk for the next take. */
class Taker {
  private readonly it: AsyncIterator<Buffer>;
  private rest?: Buffer;

  constructor(private readonly stream: Readable) {
    this.it = stream[Symbol.asyncIterator]();
  }

  async *take(n: number, index: number): AsyncGenerator<Buffer> {
    while (n > 0) {
      let b = this.rest;
      this.rest = undefined;
      if (!b) {
        const r = await this.it.next();
        if (r.done) throw new BlockFault(index, 'corrupt', 'block ended early');
        b = r.value;
      }
      if (b.length > n) {
        this.rest = b.subarray(n);
        b = b.subarray(0, n);
      }
      n -= b.length;
      yield b;
    }
  }

  destroy(): void {
    this.stream.destroy();
  }
}

/**
 * Every byte of block `target` (data or parity) rebuilt from k good others, window by window (memory:
 * k + 1 windows), for repair. Helpers found bad are reported and replaced; fewer than k: NotEnoughBlocks.
 */
export async function* rebuildBlock(
  o: { k: number; n: number; blocks: Array<BlockSource | undefined>; codec: ReconstructingCodec; onFault: (f: BlockFault) => void; window?: number },
  target: number,
  blockSize: number,
): AsyncGenerator<Buffer> {
  const bad = new Set<number>([target]);
  o.blocks.forEach((b, i) => b === undefined && bad.add(i));
  const window = o.window ?? 1 << 20;
  for (let ws = 0; ws < blockSize; ws += window) {
    const we = Math.min(blockSize, ws + window) - 1;
    for (;;) {
      const helpers: number[] = [];
      for (let i = 0; i < o.n && helpers.length < o.k; i++) if (!bad.has(i)) helpers.push(i);
      if (helpers.length < o.k) throw new NotEnoughBlocks(`only ${helpers.length} good blocks of the ${o.k} needed`);
      const got = await Promise.all(
        helpers.map((i) =>
          readVerified(o.blocks[i]!, ws, we).catch((e: unknown) => {
            if (!(e instanceof BlockFault)) throw e;
            bad.add(i);
            o.onFault(e);
            return null;
          }),
        ),
      );
      if (got.some((b) => b === null)) continue;
      const shards: Array<Buffer | null> = new Array(o.n).fill(null);
      helpers.forEach((i, j) => (shards[i] = got[j]!));
      const [out] = await o.codec.reconstruct(shards, [target]);
      yield out!;
      break;
    }
  }
}
