import type { DataSource } from 'typeorm';
import { BatchedInserts } from './batched-inserts.js';

const MAX_ERRORS = 100;

/** A run's counters, kept in memory and written to its row at least every second. */
export class RunProgress {
  filesTotal = 0;
  filesCopied = 0;
  filesSkipped = 0;
  filesFailed = 0;
  filesDeleted = 0;
  bytesTotal = 0;
  bytesCopied = 0;
  readonly errors: { path: string; message: string }[] = [];

  fail(path: string, message: string): void {
    // The list is for reading; the count says how many there were.
    if (this.errors.length < MAX_ERRORS) this.errors.push({ path, message: message.slice(0, 500) });
  }

  async save(ds: DataSource, runId: number): Promise<void> {
    await ds.query(
      `UPDATE sync_runs SET files_total = $2, files_copied = $3, files_skipped = $4, files_failed = $5, files_deleted = $6,
         bytes_total = $7, bytes_copied = $8, errors = $9::jsonb WHERE run_id = $1`,
      [runId, this.filesTotal, this.filesCopied, this.filesSkipped, this.filesFailed, this.filesDeleted, this.bytesTotal, Math.max(0, this.bytesCopied), JSON.stringify(this.errors)],
    );
  }
}

/**
 * Per-file done marks of a run, written as files complete: a resumed run skips every marked path.
 * Marks are written as they come, in batches (BatchedInserts).
 */
export class DoneMarks {
  private readonly writes: BatchedInserts<{ path: string; size: number; sha256: string }>;

  constructor(
    private readonly ds: DataSource,
    private readonly runId: number,
  ) {
    this.writes = new BatchedInserts((batch) =>
      this.ds.query(
        `INSERT INTO sync_run_files (run_id, path, size, sha256)
           SELECT $1, p, s, h FROM unnest($2::text[], $3::bigint[], $4::text[]) AS m(p, s, h) ON CONFLICT DO NOTHING`,
        [this.runId, batch.map((m) => m.path), batch.map((m) => m.size), batch.map((m) => m.sha256)],
      ),
    );
  }

  add(path: string, size: number, sha256: string): void {
    this.writes.add({ path, size, sha256 });
  }

  /** Waits for every mark added so far; throws if one could not be written. */
  flush(): Promise<void> {
    return this.writes.flush();
  }

  /** The run's marked paths in byte order (COLLATE "C"), a page at a time. */
  async *list(): AsyncGenerator<string> {
    let after = '';
    for (;;) {
      const rows: { path: string }[] = await this.ds.query(
        `SELECT path FROM sync_run_files WHERE run_id = $1 AND path > $2 ORDER BY path LIMIT 1000`,
        [this.runId, after],
      );
      for (const r of rows) yield r.path;
      if (rows.length < 1000) return;
      after = rows[rows.length - 1].path;
    }
  }
}
