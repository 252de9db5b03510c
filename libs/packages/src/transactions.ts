import type { DataSource, EntityManager } from 'typeorm';
import { notFound } from '#common';

/** The PostgreSQL error code of a failed query (TypeORM's QueryFailedError copies the driver's fields). */
export function pgCode(err: unknown): string | undefined {
  const e = err as { code?: unknown; driverError?: { code?: unknown } };
  const code = e?.driverError?.code ?? e?.code;
  return typeof code === 'string' ? code : undefined;
}

/** Deadlock (40P01) and serialization failure (40001): the transaction did nothing and may run again. */
export const isRetryable = (err: unknown) => ['40P01', '40001'].includes(pgCode(err) ?? '');

const MAX_ATTEMPTS = 4;

/**
 * Runs `work` in a transaction, again (after a short random pause) when PostgreSQL aborted it as a
 * deadlock victim: lock order is deterministic wherever we control it, but a unique-index wait
 * (two writers of one path) can still cross a row lock. A foreign-key violation (23503) means the
 * parent row (a bucket, package, object or user space) was deleted concurrently: that is
 * `DataNotFound` with `parentGone` as its message, never a 500.
 */
export async function runTransaction<T>(ds: DataSource, parentGone: string, work: (em: EntityManager) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await ds.transaction(work);
    } catch (e) {
      if (isRetryable(e) && attempt < MAX_ATTEMPTS) {
        await new Promise((r) => setTimeout(r, 5 + Math.random() * 20 * attempt));
        continue;
      }
      throw asParentGone(e, parentGone);
    }
  }
}

/** A foreign-key violation becomes DataNotFound (`message`); anything else is returned as it is. */
export function asParentGone(err: unknown, message: string): unknown {
  return pgCode(err) === '23503' ? notFound(message) : err;
}
