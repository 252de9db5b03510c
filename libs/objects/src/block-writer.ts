import { Inject, Injectable, Logger } from '@nestjs/common';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { operationFailed } from '#common';
import { APP_CONFIG, type AppConfig } from '#config';
import type { UserSpaceEntity } from '#db';
import { BlockEncoder, erasureCodec, placeBlocks, writeQuorum, type ParityCodec, type StoredPolicy } from '#redundancy';
import { ShardRegistry, fullHash, type ShardStore, type StagedShard } from '#shard-store';
import { SpaceDrivers, SpacesService } from '#user-spaces';
import type { NewBlock } from './objects.service.js';

/** A block staged on its space, to publish before the commit. */
export interface StagedBlock {
  userSpaceId: number;
  store: ShardStore;
  shard: StagedShard;
}

/** An object whose blocks are durable in their spaces' temp areas, ready to publish and commit. */
export interface WrittenObject {
  size: number;
  fileHash: string;
  redundancy: StoredPolicy;
  /** Every block, 'ok' or 'missing' (its space failed mid-write: to repair). */
  blocks: NewBlock[];
  staged: StagedBlock[];
  degraded: boolean;
}

/** Where an object's blocks go: the stored policy and the space of each block. */
export interface BlockTargets {
  stored: StoredPolicy;
  spaces: UserSpaceEntity[];
}

/**
 * The redundancy write path (issue 9 §3): places an object's blocks on the tenant's spaces, encodes
 * the body into them while it arrives (BlockEncoder), stages the n block streams in parallel on their
 * spaces, and tells which blocks are durable. Used by uploads, multipart conversion and the convert job.
 */
@Injectable()
export class BlockWriter {
  private readonly log = new Logger('BlockWriter');

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly spaces: SpacesService,
    private readonly drivers: SpaceDrivers,
    private readonly shards: ShardRegistry,
  ) {}

  /** Placement on the tenant's spaces with room (QuotaExceeded 507 when none has). */
  async targets(userId: number, policy: StoredPolicy, affinity?: number): Promise<BlockTargets> {
    const candidates = await this.spaces.placementCandidates(userId);
    const placed = placeBlocks(
      policy,
      candidates.map((c) => ({ userSpaceId: c.space.userSpaceId, usedBytes: c.usedBytes, maxSize: c.maxSize })),
      affinity,
    );
    const byId = new Map(candidates.map((c) => [c.space.userSpaceId, c.space]));
    return { stored: placed.stored, spaces: placed.spaces.map((id) => byId.get(id)!) };
  }

  codecFor(k: number, n: number): ParityCodec {
    return erasureCodec(k, n);
  }

  /**
   * Encodes `body` into the targets' blocks. Commits-to-be need ≥ writeQuorum durable blocks; below
   * that every staged block is discarded and OperationFailed (503) thrown. An empty object is stored
   * as `none` (one empty block: redundancy of nothing protects nothing).
   */
  async write(body: Readable, t: BlockTargets, opts: { signal?: AbortSignal } = {}): Promise<WrittenObject> {
    const policy = t.stored;
    const encoder = new BlockEncoder(policy, {
      codec: policy.type === 'ec' ? this.codecFor(policy.k, policy.n) : undefined,
      granuleSize: this.config.JCS_GRANULE_BYTES,
      maxSize: this.config.JCS_MAX_OBJECT_SIZE,
    });
    const stores = t.spaces.map((s) => this.drivers.shardStoreFor(s));
    const stages = encoder.outputs.map((out, i) => stores[i]!.stageUnhashed(out, opts));
    let bodyFailure: unknown;
    await pipeline(body, encoder).catch((e: unknown) => {
      bodyFailure = e;
    });
    const settled = await Promise.allSettled(stages);
    const tmpKeys = settled.map((r) => (r.status === 'fulfilled' ? r.value : undefined));
    const discardAll = () =>
      Promise.all(tmpKeys.map((k, i) => (k ? stores[i]!.discard([{ tmpKey: k } as StagedShard]) : undefined)));
    if (bodyFailure) {
      await discardAll();
      throw bodyFailure;
    }
    const encoded = encoder.encoded();
    const { size, digest } = encoder.object();
    const good = tmpKeys.filter((k) => k !== undefined).length;
    if (good < writeQuorum(policy)) {
      await discardAll();
      const why = settled.find((r) => r.status === 'rejected') as PromiseRejectedResult | undefined;
      this.log.warn({ good, needed: writeQuorum(policy), err: (why?.reason as Error)?.message }, 'write below quorum: nothing committed');
      throw operationFailed(`only ${good} of ${encoded.length} blocks could be stored (at least ${writeQuorum(policy)} are needed); nothing was stored`, 503);
    }
    const staged: StagedBlock[] = [];
    const blocks: NewBlock[] = [];
    if (size === 0) {
      const i = tmpKeys.findIndex((k) => k !== undefined);
      const e = encoded[i]!;
      await Promise.all(tmpKeys.map((k, j) => (k && j !== i ? stores[j]!.discard([{ tmpKey: k } as StagedShard]) : undefined)));
      staged.push({ userSpaceId: t.spaces[i]!.userSpaceId, store: stores[i]!, shard: { fileHash: e.fileHash, size: 0, digest: e.digest, tmpKey: tmpKeys[i]! } });
      blocks.push({ index: 0, userSpaceId: t.spaces[i]!.userSpaceId, fileHash: e.fileHash, size: 0, state: 'ok', granuleSize: this.config.JCS_GRANULE_BYTES, granuleSums: e.granuleSums });
      return { size, fileHash: fullHash(digest), redundancy: { type: 'none' }, blocks, staged, degraded: false };
    }
    encoded.forEach((e, i) => {
      const userSpaceId = t.spaces[i]!.userSpaceId;
      const tmpKey = tmpKeys[i];
      if (tmpKey) staged.push({ userSpaceId, store: stores[i]!, shard: { fileHash: e.fileHash, size: e.size, digest: e.digest, tmpKey } });
      else this.log.warn({ userSpaceId, index: i, err: ((settled[i] as PromiseRejectedResult).reason as Error)?.message }, 'block not stored: recorded missing');
      blocks.push({
        index: i,
        userSpaceId,
        fileHash: e.fileHash,
        size: e.size,
        state: tmpKey ? 'ok' : 'missing',
        granuleSize: this.config.JCS_GRANULE_BYTES,
        granuleSums: e.granuleSums,
      });
    });
    return { size, fileHash: fullHash(digest), redundancy: policy, blocks, staged, degraded: good < encoded.length };
  }

  /** Records the staged blocks' shards and moves them under their content addresses, space by space. */
  async publish(staged: StagedBlock[]): Promise<void> {
    const bySpace = new Map<number, StagedBlock[]>();
    for (const s of staged) bySpace.set(s.userSpaceId, [...(bySpace.get(s.userSpaceId) ?? []), s]);
    const groups = [...bySpace.values()];
    const results = await Promise.allSettled(
      groups.map((g) => g[0]!.store.publish(g.map((s) => s.shard), (shards) => this.shards.touch(g[0]!.userSpaceId, shards))),
    );
    const failed = results.find((r) => r.status === 'rejected') as PromiseRejectedResult | undefined;
    if (failed) {
      // publish removed its own group's temp files on failure; the others' are published and
      // unreferenced: the collector takes them after its grace.
      throw failed.reason;
    }
  }

  /** Removes staged temp files (a commit that failed). */
  async discard(staged: StagedBlock[]): Promise<void> {
    await Promise.all(staged.map((s) => s.store.discard([s.shard])));
  }
}
