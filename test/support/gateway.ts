import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { TenantsService } from '#auth';
import { loadConfig, type AppConfig } from '#config';
import { closeS3, createGatewayApp, listenS3 } from '#gateway';
import { SignedClient } from './signed-client.js';

export const BASE_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface Tenant {
  userID: number;
  name: string;
  accessKey: string;
  secretKey: string;
  client: SignedClient;
}

export interface TestGateway {
  url: string;
  /** The S3 listener's base URL (path style), unless started with JCS_S3_PORT=0. */
  s3Url: string;
  app: NestExpressApplication;
  config: AppConfig;
  masterKey: Buffer;
  dataDir: string;
  tenant(name?: string): Promise<Tenant>;
  /** Runs SQL against the gateway's database (for tests that inspect rows directly). */
  sql<T = any>(text: string, params?: unknown[]): Promise<T[]>;
  stop(): Promise<void>;
}

/**
 * A real gateway on a fresh PostgreSQL database (dropped by stop()) and a fresh data directory,
 * listening on a random loopback port. Requests go over real HTTP.
 */
export async function startTestGateway(env: Record<string, string> = {}): Promise<TestGateway> {
  const dbName = `jcs_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  const dbUrl = new URL(BASE_DATABASE_URL);
  dbUrl.pathname = '/' + dbName;
  const dataDir = mkdtempSync(path.join(tmpdir(), 'jcs-e2e-'));
  const config = loadConfig({
    DATABASE_URL: dbUrl.toString(),
    JCS_DATA_DIR: dataDir,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    JCS_QUEUE_PREFIX: `jcs-test-${dbName}`,
    ...env,
  });
  const { ensureDatabase } = await import('#db');
  await ensureDatabase(config.DATABASE_URL);
  const masterKey = randomBytes(32);
  const app = await createGatewayApp(config, masterKey);
  await app.listen(0, '127.0.0.1');
  const port = (app.getHttpServer().address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;
  // The S3 listener on a random port too (JCS_S3_PORT=0 in env: none).
  const s3 = env.JCS_S3_PORT === '0' ? undefined : await listenS3(app, config, 0, '127.0.0.1');
  const s3Url = s3 ? `http://127.0.0.1:${(s3.address() as AddressInfo).port}` : '';
  const db = new pg.Pool({ connectionString: config.DATABASE_URL, max: 2 });
  // An idle pooled client whose server connection ends (a restart, a forced drop) emits 'error' on the
  // pool; unlistened, that would surface as an uncaught error in whichever test runs next.
  db.on('error', () => undefined);
  let n = 0;
  return {
    url,
    s3Url,
    app,
    config,
    masterKey,
    dataDir,
    async tenant(name = `tenant-${++n}-${randomBytes(3).toString('hex')}`) {
      const t = await app.get(TenantsService).createUser(name);
      return { ...t, client: new SignedClient(url, { accessKey: t.accessKey, secretKey: t.secretKey }) };
    },
    async sql(text, params) {
      return (await db.query(text, params as any[])).rows;
    },
    async stop() {
      if (s3) await closeS3(s3);
      await app.close();
      await db.end();
      await dropDatabase(dbName);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export async function dropDatabase(name: string): Promise<void> {
  const admin = new pg.Client({ connectionString: BASE_DATABASE_URL });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}
