import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, type EntityManager } from 'typeorm';

/**
 * The `shards` table: which shard files exist in which space, and when an upload last claimed each.
 * A touch takes the row lock the collector also takes, so a shard is either collected before an
 * upload claims it (and the upload then writes it again) or claimed and left alone.
 */
@Injectable()
export class ShardRegistry {
  constructor(@InjectDataSource() private readonly ds: DataSource) {}

  /** Records (or refreshes) shards about to be published in a space: one statement for a batch. */
  async touch(userSpaceId: number, shards: Array<{ fileHash: string; size: number }>): Promise<void> {
    if (shards.length === 0) return;
    const unique = [...new Map(shards.map((s) => [s.fileHash, s])).values()];
    await this.ds.query(
      `INSERT INTO shards (user_space_id, file_hash, size, touch_time)
       SELECT $1, t.hash, t.size, now() FROM unnest($2::text[], $3::bigint[]) AS t(hash, size)
       ORDER BY t.hash
       ON CONFLICT (user_space_id, file_hash) DO UPDATE SET touch_time = now()`,
      [userSpaceId, unique.map((s) => s.fileHash), unique.map((s) => s.size)],
    );
  }

  /**
   * Claims the shards a transaction is about to reference without having uploaded them (clones):
   * refreshes their touch time under the row lock. Returns false when one has been collected.
   */
  async claim(em: EntityManager, shards: Array<{ userSpaceId: number; fileHash: string }>): Promise<boolean> {
    if (shards.length === 0) return true;
    const unique = [...new Map(shards.map((s) => [`${s.userSpaceId}/${s.fileHash}`, s])).values()];
    const [{ n }] = await em.query(
      `WITH u AS (
         UPDATE shards SET touch_time = now()
         FROM unnest($1::bigint[], $2::text[]) AS t(space, hash)
         WHERE user_space_id = t.space AND file_hash = t.hash RETURNING 1)
       SELECT count(*)::int AS n FROM u`,
      [unique.map((s) => s.userSpaceId), unique.map((s) => s.fileHash)],
    );
    return n === unique.length;
  }
}
