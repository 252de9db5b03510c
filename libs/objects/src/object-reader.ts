import { Injectable, Logger } from '@nestjs/common';
import { Readable } from 'node:stream';
import { DomainError, badArgument, operationFailed } from '#common';
import type { ObjectBlockEntity, ObjectEntity } from '#db';
import type { ShardStore } from '#shard-store';
import { SpaceDrivers, SpacesService } from '#user-spaces';
import { spanToSegments, type Span } from './byte-range.js';

export interface PreparedRead {
  object: ObjectEntity;
  span: Span;
  /** Opens the byte stream; every shard it needs was checked before this is handed out. */
  open(): Promise<Readable>;
}

/**
 * Plans and streams an object's bytes for a span: picks the blocks the span covers, checks that each
 * shard is present with its recorded size (so a broken object fails before the first byte), then
 * streams the shards one after the other with backpressure.
 */
@Injectable()
export class ObjectReader {
  private readonly log = new Logger('ObjectReader');

  constructor(
    private readonly spaces: SpacesService,
    private readonly drivers: SpaceDrivers,
  ) {}

  async prepare(object: ObjectEntity, blocks: ObjectBlockEntity[], span: Span): Promise<PreparedRead> {
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

    const spaces = await this.spaces.byIds(pieces.map((p) => p.block.userSpaceId));
    const stores = new Map<number, ShardStore>();
    const storeOf = (id: number): ShardStore => {
      let s = stores.get(id);
      if (!s) {
        const space = spaces.get(id);
        if (!space) throw this.broken(object, `refers to user space ${id}, which is gone`);
        s = this.drivers.shardStoreFor(space);
        stores.set(id, s);
      }
      return s;
    };
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

    return {
      object,
      span,
      open: async () => {
        if (pieces.length === 1) {
          const p = pieces[0]!;
          return storeOf(p.block.userSpaceId).open(p.block.fileHash, { start: p.start, end: p.end });
        }
        return Readable.from(concatPieces(pieces.map((p) => () => storeOf(p.block.userSpaceId).open(p.block.fileHash, { start: p.start, end: p.end }))), {
          objectMode: false,
        });
      },
    };
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
