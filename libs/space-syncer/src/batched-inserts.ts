/**
 * Rows written as they come, in batches: the first `add` starts an insert at once; while one is in
 * flight, the next rows gather and go together in the following one (at most `batchSize` a statement).
 * So a fast producer writes in batches and a crash loses at most the rows of the statement in flight.
 * The first failure is kept and thrown by `flush`.
 */
export class BatchedInserts<T> {
  private pending: T[] = [];
  private flushing?: Promise<void>;
  private failure?: unknown;

  constructor(
    private readonly insert: (batch: T[]) => Promise<unknown>,
    private readonly batchSize = 1000,
  ) {}

  add(row: T): void {
    this.pending.push(row);
    this.flushing ??= this.drain();
  }

  /** Waits for every row added so far; throws if one could not be written. */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
    if (this.failure) throw this.failure;
  }

  private async drain(): Promise<void> {
    try {
      while (this.pending.length) await this.insert(this.pending.splice(0, this.batchSize));
    } catch (e) {
      this.failure ??= e;
    } finally {
      this.flushing = undefined;
    }
  }
}
