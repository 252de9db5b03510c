import type { DataSource } from 'typeorm';

const MAX_ERRORS = 100;

/**
 * The rows of an UPDATE/DELETE ... RETURNING through `DataSource.query`: TypeORM's postgres driver
 * answers those as `[rows, affectedCount]` (and a SELECT or INSERT as the rows themselves).
 */
export function returnedRows<T>(result: unknown): T[] {
  if (Array.isArray(result) && result.length === 2 && Array.isArray(result[0]) && typeof result[1] === 'number') return result[0] as T[];
  return result as T[];
}

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
 * Marks are written at once; while one insert is in flight the next ones gather and go together, so a
 * fast run writes them in batches and a crash loses at most the marks of that one statement.
 */
export class DoneMarks {
  private pending: { path: string; size: number; sha256: string }[] = [];
  private flushing?: Promise<void>;
  private failure?: unknown;

  constructor(
    private readonly ds: DataSource,
    private readonly runId: number,
  ) {}

  add(path: string, size: number, sha256: string): void {
    this.pending.push({ path, size, sha256 });
    this.flushing ??= this.drain();
  }

  /** Waits for every mark added so far; throws if one could not be written. */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
    if (this.failure) throw this.failure;
  }

  private async drain(): Promise<void> {
    try {
      while (this.pending.length) {
        const batch = this.pending.splice(0, 1000);
        await this.ds.query(
          `INSERT INTO sync_run_files (run_id, path, size, sha256)
             SELECT $1, p, s, h FROM unnest($2::text[], $3::bigint[], $4::text[]) AS m(p, s, h) ON CONFLICT DO NOTHING`,
          [this.runId, batch.map((m) => m.path), batch.map((m) => m.size), batch.map((m) => m.sha256)],
        );
      }
    } catch (e) {
      this.failure ??= e;
    } finally {
      this.flushing = undefined;
    }
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
