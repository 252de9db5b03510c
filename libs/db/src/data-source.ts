import { DataSource, type DataSourceOptions } from 'typeorm';
import pg from 'pg';
import { redactUrl } from '#common';
import { ENTITIES } from './entities/index.js';
import { MIGRATIONS } from './migrations.js';

export function dataSourceOptions(databaseUrl: string): DataSourceOptions {
  return {
    type: 'postgres',
    url: databaseUrl,
    entities: ENTITIES,
    migrations: MIGRATIONS,
    synchronize: false,
    migrationsRun: false,
    logging: false,
    extra: { max: 20, connectionTimeoutMillis: 5000 },
  };
}

/** A failure to reach a service, worded for the person starting the gateway. */
export class ServiceUnreachableError extends Error {}

/**
 * Creates the database named in the URL when it does not exist (connecting to the `postgres`
 * maintenance database of the same server). Start-up on a fresh server then needs no manual step.
 */
export async function ensureDatabase(databaseUrl: string): Promise<void> {
  const url = new URL(databaseUrl);
  const name = decodeURIComponent(url.pathname.replace(/^\//, '')) || 'postgres';
  const admin = new URL(databaseUrl);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString(), connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
  } catch (e) {
    throw new ServiceUnreachableError(
      `cannot reach PostgreSQL at ${redactUrl(databaseUrl)} (${(e as Error).message}); start it with ` +
        '`docker compose up -d postgres` or your local service (e.g. `pg_ctlcluster 15 main start`), or set DATABASE_URL',
    );
  }
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (!rowCount) {
      try {
        await client.query(`CREATE DATABASE "${name.replace(/"/g, '""')}"`);
      } catch (e) {
        // Another process created it at the same moment.
        if ((e as { code?: string }).code !== '42P04') throw e;
      }
    }
  } finally {
    await client.end();
  }
}

/** Connects, creates the database if needed and applies pending migrations. */
export async function openDataSource(databaseUrl: string, runMigrations = true): Promise<DataSource> {
  await ensureDatabase(databaseUrl);
  const ds = new DataSource(dataSourceOptions(databaseUrl));
  await ds.initialize();
  if (runMigrations) await ds.runMigrations({ transaction: 'each' });
  return ds;
}

/** Kept for the callers of #db; the one implementation is #common's. */
export { redactUrl };
