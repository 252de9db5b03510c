import type { DataSource, EntityManager } from 'typeorm';
import { notFound } from '#common';
import { isRetryable, pgCode } from '#db';

// One definition for TypeORM's and the pool's transactions (#db's Sql.transaction).
export { isRetryable, pgCode };

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
