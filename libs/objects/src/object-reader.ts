import { Inject, Injectable, Logger } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { DomainError, badArgument, operationFailed } from '#common';
import { APP_CONFIG, type AppConfig } from '#config';
import type { ObjectBlockEntity, ObjectEntity, UserSpaceEntity } from '#db';
import { ShardRegistry, fullHash, type ShardStore } from '#shard-store';
import { SpaceDrivers, SpacesService } from '#user-spaces';
import { spanToSegments, type Span } from './byte-range.js';

export interface PreparedRead {
  object: ObjectEntity;
  span: Span;
  /** Opens the byte stream; every shard it needs was checked before this is handed out. */
  open(): Promise<Readable>;
  /** A small read's bytes, already read (and, for a whole small shard, verified): no stream needed. */
  bytes?: Buffer;
}

/**
 * Reads of at most this many bytes are done in memory with one open file (StorageDriver.readBytes)
 * instead of a check and a stream: for a 4 KiB object the stream machinery cost more than the bytes.
 * A shard this small is read whole and verified against its hash even when only a range is asked.
 */
export const SMALL_READ_BYTES = 256 * 1024;

/**
 * Plans and streams an object's bytes for a span: picks the blocks the span covers, checks that each
 * shard is present with its recorded size (so a broken object fails before the first byte), then
 * streams the shards one after the other with backpressure.
 *
 * A piece that covers a whole shard is verified against the shard's hash while it streams; its last
 * chunk is held back until the hash matches, and on a mismatch the stream fails instead (a response
 * is cut, never completed as good). Small reads are done in memory (SMALL_READ_BYTES) and a small
 * shard is verified whole before the first byte, even for a range. Ranged pieces of larger shards
 * cannot be verified until blocks carry per-block checksums (issue 9): a damaged byte inside such a
 * range is served as it is.
 *
 * Reads hold nothing against the collector: it removes only shards doomed (unreferenced) for
 * JCS_GC_READ_GRACE_SECONDS, and a read still running after a third of that clears the doomed mark
 * of its shards (ShardRegistry.keepAlive), again every third, until it ends.
 */
@Injectable()
export class ObjectReader {
  private readonly log = new Logger('ObjectReader');

  constructor(
    private readonly spaces: SpacesService,
    private readonly drivers: SpaceDrivers,
    private readonly shards: ShardRegistry,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /** `spaces`: the blocks' user spaces when the caller read them with the object (else looked up here). */
  async prepare(object: ObjectEntity, blocks: ObjectBlockEntity[], span: Span, spaces?: Map<number, UserSpaceEntity>): Promise<PreparedRead> {
    const r = object.redundancy;
    let pieces: Array<{ block: ObjectBlockEntity; start: number; end: number }>;
    if (r.type === 'multipartUpload') throw badArgument(`object ${object.objectId} is an open multipart upload`);
    if (r.type === 'none' || r.type === 'rep') {
      const block = blocks.find((b) => b.index === 0);
      if (!block && object.size > 0) throw this.broken(object, 'has no stored block');
      pieces = block && span.end >= span.start ? [{ block, start: span.start, end: span.end }] : [];
    } else if (r.type === 'segment') {
      const byIndex = new Map(blocks.map((b) => [b.index, b]));
      pieces = spanToSegments(span, r.segments).map((p) => {
        const block = byIndex.get(p.segment);
        if (!block) throw this.broken(object, `misses segment ${p.segment}`);
        return { block, start: p.start, end: p.end };
      });
    } else {
      throw operationFailed(`redundancy ${r.type} is not readable by this gateway yet`);
    }

    spaces ??= await this.spaces.byIds(pieces.map((p) => p.block.userSpaceId));
    const stores = new Map<number, ShardStore>();
    const storeOf = (id: number): ShardStore => {
      let s = stores.get(id);
      if (!s) {
        const space = spaces!.get(id);
        if (!space) throw this.broken(object, `refers to user space ${id}, which is gone`);
        s = this.drivers.shardStoreFor(space);
        stores.set(id, s);
      }
      return s;
    };
    if (pieces.length === 1) {
      const small = await this.readSmall(object, pieces[0]!, storeOf);
      if (small) return { object, span, bytes: small, open: async () => Readable.from([small], { objectMode: false }) };
    }

    const unique = [...new Map(pieces.map((p) => [`${p.block.userSpaceId}/${p.block.fileHash}`, p.block])).values()];
    await Promise.all(
      unique.map((b) =>
        storeOf(b.userSpaceId)
          .check(b.fileHash, b.size)
          .catch((e: unknown) => {
            throw this.broken(object, `shard ${b.fileHash} in user space ${b.userSpaceId}: ${(e as Error).message}`, e);
          }),
      ),
    );

    const openPiece = async (p: (typeof pieces)[number]): Promise<Readable> => {
      const stream = await storeOf(p.block.userSpaceId).open(p.block.fileHash, { start: p.start, end: p.end });
      if (p.start !== 0 || p.end !== p.block.size - 1 || !FULL_HASH.test(p.block.fileHash)) return stream;
      const verified = new VerifyingTap(p.block.fileHash, () =>
        this.log.error(
          { objectId: object.objectId, userSpaceId: p.block.userSpaceId, shard: p.block.fileHash },
          'shard bytes do not match their hash: the read is cut (the shard is damaged; uploading the same content again repairs it)',
        ),
      );
      stream.once('error', (e) => verified.destroy(e));
      verified.once('close', () => stream.destroy());
      return stream.pipe(verified);
    };

    return {
      object,
      span,
      open: async () => {
        const stream =
          pieces.length === 1
            ? await openPiece(pieces[0]!)
            : Readable.from(concatPieces(pieces.map((p) => () => openPiece(p))), { objectMode: false });
        this.keepAliveWhileOpen(stream, unique);
        return stream;
      },
    };
  }

  /**
   * A piece of at most SMALL_READ_BYTES, read into memory with its shard's size checked; a shard that
   * small is read whole and verified (a mismatch fails the request before its first byte). Undefined:
   * the piece is too large, stream it.
   */
  private async readSmall(
    object: ObjectEntity,
    p: { block: ObjectBlockEntity; start: number; end: number },
    storeOf: (id: number) => ShardStore,
  ): Promise<Buffer | undefined> {
    const { block } = p;
    const wholeShard = block.size <= SMALL_READ_BYTES && FULL_HASH.test(block.fileHash);
    if (!wholeShard && p.end - p.start + 1 > SMALL_READ_BYTES) return undefined;
    let bytes: Buffer;
    try {
      const store = storeOf(block.userSpaceId);
      bytes = wholeShard ? await store.readBytes(block.fileHash, block.size) : await store.readBytes(block.fileHash, block.size, { start: p.start, end: p.end });
    } catch (e) {
      if (e instanceof DomainError && e.code === 'BadArgument') throw e;
      throw this.broken(object, `shard ${block.fileHash} in user space ${block.userSpaceId}: ${(e as Error).message}`, e);
    }
    if (!wholeShard) return bytes;
    if (fullHash(createHash('sha256').update(bytes).digest()) !== block.fileHash) {
      this.log.error(
        { objectId: object.objectId, userSpaceId: block.userSpaceId, shard: block.fileHash },
        'shard bytes do not match their hash: the read is refused (the shard is damaged; uploading the same content again repairs it)',
      );
      throw operationFailed(`object ${object.objectId} cannot be read: its data is missing or damaged`);
    }
    return bytes.subarray(p.start, p.end + 1);
  }

  /** Clears the doomed mark of the read's shards every third of the read grace while `stream` is open. */
  private keepAliveWhileOpen(stream: Readable, blocks: ObjectBlockEntity[]): void {
    const graceMs = this.config.JCS_GC_READ_GRACE_SECONDS * 1000;
    if (graceMs <= 0 || blocks.length === 0) return;
    const keys = blocks.map((b) => ({ userSpaceId: b.userSpaceId, fileHash: b.fileHash }));
    const timer = setInterval(() => {
      this.shards.keepAlive(keys).catch((e: Error) => this.log.warn({ err: e.message }, 'could not refresh the shards of a read in flight'));
    }, graceMs / 3);
    timer.unref();
    stream.once('close', () => clearInterval(timer));
  }

  private broken(object: ObjectEntity, what: string, cause?: unknown): DomainError {
    this.log.error({ objectId: object.objectId, packageId: object.packageId, path: object.path, cause: (cause as Error)?.message }, `object ${what}`);
    return operationFailed(`object ${object.objectId} cannot be read: its data is missing or damaged`);
  }
}

/** Yields the pieces' bytes in order, opening each only when the previous one is done. */
async function* concatPieces(openers: Array<() => Promise<Readable>>): AsyncGenerator<Buffer> {
  for (const open of openers) {
    const s = await open();
    try {
      for await (const chunk of s) yield chunk as Buffer;
    } finally {
      s.destroy();
    }
  }
}

const FULL_HASH = /^Full[0-9A-F]{64}$/;

/**
 * Passes a whole shard's bytes through, hashing them; holds the last chunk back until the end, and
 * fails (without it) when the SHA-256 differs from the shard's name, so no consumer ever sees the
 * complete byte count of a damaged shard.
 */
class VerifyingTap extends Transform {
  private readonly hash = createHash('sha256');
  private held?: Buffer;

  constructor(
    private readonly fileHash: string,
    private readonly onMismatch: () => void,
  ) {
    super({ highWaterMark: 1 << 20 });
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    const prev = this.held;
    this.held = chunk;
    cb(null, prev);
  }

  override _flush(cb: TransformCallback): void {
    if (fullHash(this.hash.digest()) !== this.fileHash) {
      this.onMismatch();
      cb(operationFailed(`shard ${this.fileHash} is damaged: its bytes do not match its hash`));
      return;
    }
    cb(null, this.held);
  }
}
