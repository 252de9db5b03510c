import type { DataSource } from 'typeorm';
import { compareKeys, type StorageEntry } from '#storage';
import { BatchedInserts } from './batched-inserts.js';

/** A listed file with, where known, the modification time a copy kept on it (S3/OBS metadata). */
export type SyncEntry = StorageEntry & { keptModTime?: Date };

const PAGE = 1000;

/**
 * Kept modification times of S3/OBS objects the syncer wrote. Their listings carry only the upload
 * time, and reading the kept one costs a HEAD per object (rclone pays it on every pass). After each
 * copy the time is recorded with the ETag and size the write returned; a later listing entry with the
 * same key, ETag and size is that very version, so its time is taken from here. Any other change of
 * the object (a new ETag) falls back to the HEAD.
 */
export class KeptTimes {
  private readonly writes = new BatchedInserts<{ space: number; key: string; etag: string; size: number; modTime: Date }>((batch) =>
    this.ds.query(
      `INSERT INTO sync_kept_times (user_space_id, key, etag, size, mod_time)
         SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::timestamptz[])
       ON CONFLICT (user_space_id, key) DO UPDATE SET etag = EXCLUDED.etag, size = EXCLUDED.size, mod_time = EXCLUDED.mod_time`,
      [batch.map((k) => k.space), batch.map((k) => k.key), batch.map((k) => k.etag), batch.map((k) => k.size), batch.map((k) => k.modTime.toISOString())],
    ),
  );

  constructor(private readonly ds: DataSource) {}

  add(space: number, key: string, etag: string, size: number, modTime: Date): void {
    this.writes.add({ space, key, etag, size, modTime });
  }

  flush(): Promise<void> {
    return this.writes.flush();
  }

  /**
   * `entries` (relative to folder `root` of space `space`, in byte order) with `keptModTime` set
   * where a recorded row matches key, ETag and size: a merge with the rows of that folder, read a page
   * at a time in the same order.
   */
  async *merged(space: number, root: string, entries: AsyncIterable<StorageEntry>): AsyncGenerator<SyncEntry> {
    const prefix = root === '' ? '' : `${root}/`;
    const rows = this.rows(space, prefix)[Symbol.asyncIterator]();
    let row = (await rows.next()).value as KeptRow | undefined;
    try {
      for await (const e of entries) {
        while (row && compareKeys(row.rel, e.key) < 0) row = (await rows.next()).value as KeptRow | undefined;
        if (row && row.rel === e.key && e.etag !== undefined && row.etag === e.etag && row.size === e.size) yield { ...e, keptModTime: row.modTime };
        else yield e;
      }
    } finally {
      await rows.return?.(undefined);
    }
  }

  private async *rows(space: number, prefix: string): AsyncGenerator<KeptRow> {
    // Keys under `prefix` in C order: [prefix, prefix with its last byte + 1); '' means the whole space.
    let after: string | null = null;
    const upper = prefix === '' ? null : prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
    for (;;) {
      const page: { key: string; etag: string; size: string; mod_time: Date }[] = await this.ds.query(
        `SELECT key, etag, size, mod_time FROM sync_kept_times
          WHERE user_space_id = $1 AND key >= $2 AND ($3::text IS NULL OR key < $3) AND ($4::text IS NULL OR key > $4)
          ORDER BY key LIMIT ${PAGE}`,
        [space, prefix, upper, after],
      );
      for (const r of page) yield { rel: r.key.slice(prefix.length), etag: r.etag, size: Number(r.size), modTime: new Date(r.mod_time) };
      if (page.length < PAGE) return;
      after = page[page.length - 1].key;
    }
  }

  async forget(space: number, key: string): Promise<void> {
    await this.ds.query(`DELETE FROM sync_kept_times WHERE user_space_id = $1 AND key = $2`, [space, key]);
  }
}

interface KeptRow {
  rel: string;
  etag: string;
  size: number;
  modTime: Date;
}
