import type { DataSource } from 'typeorm';
import type pg from 'pg';

/**
 * A statement of the hot paths: sent as a named prepared statement, so each pooled connection
 * parses and plans it once. `name` must be unique per `text` (pg refuses a name reused for
 * another text on the same connection).
 */
export interface Statement {
  name: string;
  text: string;
}

/** Something statements run on: the pool (each statement on its own) or one transaction's client. */
export interface SqlRunner {
  rows<R = Record<string, any>>(stmt: Statement, values: unknown[]): Promise<R[]>;
}

/** The PostgreSQL error code of a failed query (pg errors carry it; TypeORM's QueryFailedError copies it). */
export function pgCode(err: unknown): string | undefined {
  const e = err as { code?: unknown; driverError?: { code?: unknown } };
  const code = e?.driverError?.code ?? e?.code;
  return typeof code === 'string' ? code : undefined;
}

/** SQLSTATE of the space_usage triggers: a statement would take a user space past shardStore.maxSize (DETAIL = its ID). */
export const SPACE_FULL = 'JC002';

/** Deadlock (40P01) and serialization failure (40001): the transaction did nothing and may run again. */
export const isRetryable = (err: unknown) => ['40P01', '40001'].includes(pgCode(err) ?? '');

const MAX_ATTEMPTS = 4;

/**
 * Direct access to the pg pool TypeORM already owns, for the statements every request runs: no query
 * runner, no broadcaster, no hydration (rows are mapped by hand by the caller). Everything else keeps
 * using TypeORM.
 */
export class Sql implements SqlRunner {
  private poolRef?: pg.Pool;

  constructor(private readonly ds: DataSource) {}

  /** Resolved on first use: the DataSource is initialised by then, not necessarily at construction. */
  private get pool(): pg.Pool {
    return (this.poolRef ??= (this.ds.driver as unknown as { master: pg.Pool }).master);
  }

  async rows<R = Record<string, any>>(stmt: Statement, values: unknown[]): Promise<R[]> {
    const res = await this.pool.query({ name: stmt.name, text: stmt.text, values });
    return res.rows as R[];
  }

  /**
   * Runs `work` (statements on the pool, each its own transaction: one statement that does all the
   * writing is atomic), again after a short random pause when PostgreSQL aborted it as a deadlock
   * victim or serialization failure: lock order is deterministic wherever we control it, but a
   * unique-index wait (two writers of one path) can still cross a row lock. `work` may so run more
   * than once. `mapError` turns the final failure into the caller's domain error.
   */
  async retrying<T>(work: (runner: SqlRunner) => Promise<T>, mapError: (e: unknown) => unknown = (e) => e): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await work(this);
      } catch (e) {
        if (isRetryable(e) && attempt < MAX_ATTEMPTS) {
          await new Promise((r) => setTimeout(r, 5 + Math.random() * 20 * attempt));
          continue;
        }
        throw mapError(e);
      }
    }
  }
}

const instances = new WeakMap<DataSource, Sql>();

/** The one Sql of a DataSource (services share it; it holds no state but the pool reference). */
export function sqlOf(ds: DataSource): Sql {
  let s = instances.get(ds);
  if (!s) instances.set(ds, (s = new Sql(ds)));
  return s;
}

/** An EntityManager's transaction seen as a SqlRunner, for statements shared with TypeORM callers. */
export function runnerOf(em: { query(text: string, params?: unknown[]): Promise<any> }): SqlRunner {
  return { rows: (stmt, values) => em.query(stmt.text, values) };
}
