import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { Readable } from 'node:stream';
import type { DataSource } from 'typeorm';
import { DomainError, badArgument, operationFailed } from '#common';
import { APP_CONFIG, type AppConfig } from '#config';
import { sqlOf, type Sql, type Statement, type ObjectBlockEntity, type ObjectEntity, type UserSpaceEntity } from '#db';
import {
  BlockFault,
  NotEnoughBlocks,
  RedundancyJobs,
  StripeLayout,
  erasureCodec,
  ecRead,
  replicaRead,
  type BlockFaultKind,
  type BlockSource,
} from '#redundancy';
import { ShardRegistry, type ShardStore } from '#shard-store';
import { StorageKeyNotFoundError } from '#storage';
import { SpaceDrivers, SpacesService } from '#user-spaces';
import { spanToSegments, type Span } from './byte-range.js';

export interface PreparedRead {
  object: ObjectEntity;
  span: Span;
  /** Opens the byte stream; every shard it needs first was checked before this is handed out. */
  open(): Promise<Readable>;
  /** A small read's bytes, already read and verified: no stream needed. */
  bytes?: Buffer;
}

/**
 * A block as the reader takes it: the block map row, whose health and granule sums may be absent
 * (callers with plain blocks, legacy rows); `hasSums` says the row has sums that did not come with it.
 */
export type ReadBlock = Omit<ObjectBlockEntity, 'state' | 'checkedAt' | 'granuleSize' | 'granuleSums'> & {
  state?: ObjectBlockEntity['state'];
  checkedAt?: Date | null;
  granuleSize?: number | null;
  granuleSums?: Buffer | null;
  hasSums?: boolean;
};

/**
 * Reads of at most this many bytes are done in memory (one open file per block: StorageDriver.readBytes)
 * and verified before the response starts: for a 4 KiB read the stream machinery cost more than the bytes.
 */
export const SMALL_READ_BYTES = 256 * 1024;

/** The sums of granules [from, from+for) of some blocks of one object (1-based substring offsets, as SQL). */
const GRANULE_SUMS: Statement = {
  name: 'objects.granuleSums',
  text: `SELECT b.index, b.user_space_id, substring(b.granule_sums from t.off for t.len) AS sums
         FROM unnest($3::int[], $4::bigint[], $5::int[], $6::int[]) AS t(idx, space, off, len)
         JOIN object_blocks b ON b.object_id = $2 AND b.index = t.idx AND b.user_space_id = t.space
         JOIN objects o ON o.object_id = b.object_id AND o.user_id = $1`,
};

/** A read found a block damaged: one small UPDATE, only if the row is still that block and still 'ok'. */
const MARK_DAMAGED: Statement = {
  name: 'objects.markDamaged',
  text: `UPDATE object_blocks b SET state = $6
         FROM objects o
         WHERE o.object_id = b.object_id AND o.user_id = $1
           AND b.object_id = $2 AND b.index = $3 AND b.user_space_id = $4 AND b.file_hash = $5 AND b.state = 'ok'`,
};

/**
 * Plans and streams an object's bytes for a span (issue 9 §5). Every block with granule sums is
 * verified granule by granule for exactly the granules the read touches, before those bytes leave;
 * legacy blocks (no sums) are verified whole when read whole, and small ones always.
 *
 * - `none` and `segment`: the block(s) of the span in order; damage fails the read.
 * - `rep`: one copy; on an error or a checksum mismatch, the next copy from the same byte on.
 * - `ec`: the data blocks of the stripes the span touches, streamed in parallel with bounded
 *   read-ahead (no decoding); a bad block is rebuilt from k others for the columns needed.
 *
 * What is known before the first byte fails the request with OperationFailed (small reads are done
 * whole in memory first; larger ones check the blocks they start with); later damage past what
 * redundancy covers cuts the stream. A damaged block is marked in the block map and a repair queued.
 *
 * Reads hold nothing against the collector: it removes only shards doomed (unreferenced) for
 * JCS_GC_READ_GRACE_SECONDS, and a read still running after a third of that clears the doomed mark
 * of its shards (ShardRegistry.keepAlive), again every third, until it ends.
 */
@Injectable()
export class ObjectReader {
  private readonly log = new Logger('ObjectReader');
  private readonly sql: Sql;

  constructor(
    private readonly spaces: SpacesService,
    private readonly drivers: SpaceDrivers,
    private readonly shards: ShardRegistry,
    private readonly jobs: RedundancyJobs,
    @InjectDataSource() ds: DataSource,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    this.sql = sqlOf(ds);
  }

  /** `spaces`: the blocks' user spaces when the caller read them with the object (else looked up here). */
  async prepare(object: ObjectEntity, blocks: ReadBlock[], span: Span, spaces?: Map<number, UserSpaceEntity>): Promise<PreparedRead> {
    const r = object.redundancy;
    if (r.type === 'multipartUpload') throw badArgument(`object ${object.objectId} is an open multipart upload`);
    if (!['none', 'rep', 'segment', 'ec'].includes(r.type)) throw operationFailed(`redundancy ${r.type} is not readable by this gateway yet`);
    const length = Math.max(0, span.end - span.start + 1);
    if (length === 0) return { object, span, bytes: Buffer.alloc(0), open: async () => Readable.from([]) };

    spaces ??= await this.spaces.byIds([...new Set(blocks.map((b) => b.userSpaceId))]);
    const ctx = new ReadContext(this, object, spaces, this.sumsRange(object, span));
    const plan = this.plan(object, blocks, span, ctx);

    if (length <= SMALL_READ_BYTES) {
      const bytes = await this.collect(object, plan.bytes());
      return { object, span, bytes, open: async () => Readable.from([bytes], { objectMode: false }) };
    }
    // Fail before the first byte when the blocks the read starts with are gone: a HEAD each.
    await Promise.all(plan.first.map((b) => ctx.probe(b)));
    plan.ready();
    return {
      object,
      span,
      open: async () => {
        // The first chunk is read before the stream is handed out: damage found by then (more than the
        // redundancy covers) is still a clean OperationFailed, not a cut connection.
        const gen = this.mapErrors(object, plan.bytes());
        const first = await gen.next();
        const stream = Readable.from(prepend(first.done ? undefined : first.value, gen), { objectMode: false, highWaterMark: 1 << 20 });
        this.keepAliveWhileOpen(stream, plan.all);
        return stream;
      },
    };
  }

  private plan(object: ObjectEntity, blocks: ReadBlock[], span: Span, ctx: ReadContext): ReadPlan {
    const r = object.redundancy;
    const fault = (b: ReadBlock) => (f: BlockFault) => ctx.fault(b, f);
    if (r.type === 'none' || r.type === 'rep') {
      const copies = blocks
        .filter((b) => (r.type === 'rep' ? b.index < r.repCount : b.index === 0) && (b.state ?? 'ok') === 'ok')
        .sort((a, b) => a.index - b.index);
      if (copies.length === 0) throw this.broken(object, 'has no good stored block');
      const bad = new Set<ReadBlock>();
      return {
        first: [copies[0]!],
        all: copies,
        ready: () => copies.forEach((c) => ctx.isBad(c) && bad.add(c)),
        bytes: () =>
          replicaRead(
            copies.filter((c) => !bad.has(c)).map((c) => ctx.source(c)),
            span.start,
            span.end,
            (f) => ctx.fault(copies.find((c) => c.index === f.index)!, f),
          ),
      };
    }
    if (r.type === 'segment') {
      const byIndex = new Map(blocks.map((b) => [b.index, b]));
      const pieces = spanToSegments(span, r.segments).map((p) => {
        const block = byIndex.get(p.segment);
        if (!block) throw this.broken(object, `misses segment ${p.segment}`);
        return { block, start: p.start, end: p.end };
      });
      const unique = [...new Set(pieces.map((p) => p.block))];
      return {
        first: unique,
        all: unique,
        ready: () => undefined,
        bytes: async function* () {
          for (const p of pieces) yield* replicaRead([ctx.source(p.block)], p.start, p.end, fault(p.block));
        },
      };
    }
    // ec
    const { k, n, chunkSize } = r as unknown as { k: number; n: number; chunkSize: number };
    const layout = new StripeLayout(object.size, k, chunkSize);
    const byIndex = new Map<number, ReadBlock>();
    for (const b of blocks) if (b.index < n && (b.state ?? 'ok') === 'ok' && !byIndex.has(b.index)) byIndex.set(b.index, b);
    if (byIndex.size < k) throw this.broken(object, `has ${byIndex.size} good blocks of the ${k} needed`);
    const touched = [...new Set(layout.segments(span.start, span.end).map((s) => s.block))];
    const all = [...byIndex.values()];
    return {
      first: touched.map((i) => byIndex.get(i)).filter((b): b is ReadBlock => b !== undefined),
      all,
      ready: () => {
        for (const b of all) if (ctx.isBad(b)) byIndex.delete(b.index);
        if (byIndex.size < k) throw this.broken(object, `has ${byIndex.size} good blocks of the ${k} needed`);
      },
      bytes: () =>
        ecRead(
          {
            layout,
            k,
            n,
            blocks: Array.from({ length: n }, (_, i) => (byIndex.has(i) ? ctx.source(byIndex.get(i)!) : undefined)),
            codec: erasureCodec(k, n),
            onFault: (f) => ctx.fault(byIndex.get(f.index)!, f),
            stream: span.end - span.start + 1 > SMALL_READ_BYTES,
          },
          span.start,
          span.end,
        ),
    };
  }

  /** The granules a read may need, in block bytes: the span itself, or (ec) its column range. */
  private sumsRange(object: ObjectEntity, span: Span): { start: number; end: number } {
    const r = object.redundancy as { type: string; k?: number; chunkSize?: number };
    if (r.type !== 'ec') return { start: span.start, end: span.end };
    const c = new StripeLayout(object.size, r.k!, r.chunkSize!).columnRange(span.start, span.end);
    return { start: c.blockStart, end: c.blockEnd };
  }

  private async collect(object: ObjectEntity, gen: AsyncGenerator<Buffer>): Promise<Buffer> {
    const parts: Buffer[] = [];
    try {
      for await (const b of gen) parts.push(b);
    } catch (e) {
      throw this.unreadable(object, e);
    }
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  }

  private async *mapErrors(object: ObjectEntity, gen: AsyncGenerator<Buffer>): AsyncGenerator<Buffer> {
    try {
      yield* gen;
    } catch (e) {
      throw this.unreadable(object, e);
    }
  }

  private unreadable(object: ObjectEntity, e: unknown): Error {
    if (e instanceof DomainError) return e;
    if (e instanceof NotEnoughBlocks || e instanceof BlockFault) return this.broken(object, e.message, e);
    return e as Error;
  }

  /**
   * Block sources over whole blocks for maintenance (scrub, repair): verified like reads, damage
   * found on them reported like reads'.
   */
  maintenanceContext(object: ObjectEntity, spaces: Map<number, UserSpaceEntity>): ReadContext {
    return new ReadContext(this, object, spaces, { start: 0, end: Number.MAX_SAFE_INTEGER });
  }

  /** @internal ReadContext's access to the shard stores and the database. */
  storeOf(space: UserSpaceEntity): ShardStore {
    return this.drivers.shardStoreFor(space);
  }

  /** @internal */
  async fetchSums(object: ObjectEntity, wants: Array<{ block: ReadBlock; offset: number; length: number }>): Promise<Buffer[]> {
    const rows = await this.sql.rows<{ index: number; user_space_id: string; sums: Buffer | null }>(GRANULE_SUMS, [
      object.userId,
      object.objectId,
      wants.map((w) => w.block.index),
      wants.map((w) => w.block.userSpaceId),
      wants.map((w) => w.offset + 1),
      wants.map((w) => w.length),
    ]);
    return wants.map((w) => {
      const row = rows.find((r) => r.index === w.block.index && Number(r.user_space_id) === w.block.userSpaceId);
      if (!row?.sums) throw new Error('the block has no granule sums any more');
      return row.sums;
    });
  }

  /** @internal A read found `block` damaged: mark it (unless someone changed the row) and queue a repair. */
  reportDamage(object: ObjectEntity, block: ReadBlock, kind: BlockFaultKind, why: string): void {
    const where = { objectId: object.objectId, index: block.index, userSpaceId: block.userSpaceId, shard: block.fileHash };
    if (kind === 'unreachable') {
      this.log.warn({ ...where, reason: why }, 'a block could not be read; the read goes on from the others');
      return;
    }
    this.log.error({ ...where, state: kind, reason: why }, 'a block is damaged: marked, and its repair queued');
    this.sql
      .rows(MARK_DAMAGED, [object.userId, object.objectId, block.index, block.userSpaceId, block.fileHash, kind])
      .then(() => this.jobs.queueRepair(object.userId, object.objectId))
      .catch((e: Error) => this.log.warn({ ...where, err: e.message }, 'could not mark a damaged block'));
  }

  /** Clears the doomed mark of the read's shards every third of the read grace while `stream` is open. */
  private keepAliveWhileOpen(stream: Readable, blocks: ReadBlock[]): void {
    const graceMs = this.config.JCS_GC_READ_GRACE_SECONDS * 1000;
    if (graceMs <= 0 || blocks.length === 0) return;
    const keys = blocks.map((b) => ({ userSpaceId: b.userSpaceId, fileHash: b.fileHash }));
    const timer = setInterval(() => {
      this.shards.keepAlive(keys).catch((e: Error) => this.log.warn({ err: e.message }, 'could not refresh the shards of a read in flight'));
    }, graceMs / 3);
    timer.unref();
    stream.once('close', () => clearInterval(timer));
  }

  /** @internal */
  broken(object: ObjectEntity, what: string, cause?: unknown): DomainError {
    this.log.error({ objectId: object.objectId, packageId: object.packageId, path: object.path, cause: (cause as Error)?.message }, `object ${what}`);
    return operationFailed(`object ${object.objectId} cannot be read: its data is missing or damaged`);
  }
}

interface ReadPlan {
  /** The blocks the read starts with (checked before a streamed read's first byte). */
  first: ReadBlock[];
  /** Every block the read may use (kept alive against the collector). */
  all: ReadBlock[];
  /** After the checks: drop what they found bad (or fail when too little is left). */
  ready(): void;
  bytes(): AsyncGenerator<Buffer>;
}

/** One read's block sources: stores, lazily fetched granule sums, faults reported once per block. */
export class ReadContext {
  private readonly sums = new Map<ReadBlock, Promise<{ first: number; sums: Buffer }>>();
  private readonly bad = new Set<ReadBlock>();

  constructor(
    private readonly reader: ObjectReader,
    private readonly object: ObjectEntity,
    private readonly spaces: Map<number, UserSpaceEntity>,
    /** Block bytes the read may touch: the granule sums fetched for a block cover these. */
    private readonly range: { start: number; end: number },
  ) {}

  isBad(b: ReadBlock): boolean {
    return this.bad.has(b);
  }

  private store(b: ReadBlock): ShardStore {
    const space = this.spaces.get(b.userSpaceId);
    if (!space) throw new StorageKeyNotFoundError(`user space ${b.userSpaceId}`);
    return this.reader.storeOf(space);
  }

  /** HEAD of a block: a missing or wrong-sized one is reported and set aside. */
  async probe(b: ReadBlock): Promise<void> {
    try {
      await this.store(b).check(b.fileHash, b.size);
    } catch (e) {
      const kind = classify(e);
      this.fault(b, new BlockFault(b.index, kind, (e as Error).message));
    }
  }

  fault(b: ReadBlock, f: BlockFault): void {
    if (this.bad.has(b)) return;
    this.bad.add(b);
    this.reader.reportDamage(this.object, b, f.kind, f.message);
  }

  source(b: ReadBlock): BlockSource {
    const granuleSize = b.granuleSize && (b.hasSums || b.granuleSums) ? b.granuleSize : undefined;
    return {
      index: b.index,
      size: b.size,
      fileHash: b.fileHash,
      granuleSize,
      classify,
      read: async (start, end) => {
        const store = this.store(b);
        if (end - start <= SMALL_READ_BYTES) return [await store.readBytes(b.fileHash, b.size, { start, end: end - 1 })];
        return store.open(b.fileHash, { start, end: end - 1 });
      },
      sums: async (g0, g1) => {
        if (b.granuleSums) return b.granuleSums.subarray(g0 * 4, (g1 + 1) * 4);
        const g = granuleSize!;
        let got = this.sums.get(b);
        if (!got) {
          const first = Math.floor(this.range.start / g);
          const last = Math.floor(Math.min(this.range.end, b.size - 1) / g);
          got = this.reader
            .fetchSums(this.object, [{ block: b, offset: first * 4, length: (last - first + 1) * 4 }])
            .then(([sums]) => ({ first, sums: sums! }));
          this.sums.set(b, got);
        }
        const { first, sums } = await got;
        if (g0 >= first && (g1 - first + 1) * 4 <= sums.length) return sums.subarray((g0 - first) * 4, (g1 - first + 1) * 4);
        const [exact] = await this.reader.fetchSums(this.object, [{ block: b, offset: g0 * 4, length: (g1 - g0 + 1) * 4 }]);
        return exact!;
      },
    };
  }
}

async function* prepend(first: Buffer | undefined, rest: AsyncGenerator<Buffer>): AsyncGenerator<Buffer> {
  if (first) yield first;
  yield* rest;
}

function classify(e: unknown): BlockFaultKind {
  if (e instanceof StorageKeyNotFoundError) return 'missing';
  const msg = (e as Error)?.message ?? '';
  if (/ bytes where \d+ were recorded|is missing from its user space/.test(msg)) return msg.includes('missing from') ? 'missing' : 'corrupt';
  return 'unreachable';
}

