import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BASE_DATABASE_URL, dropDatabase } from './gateway.js';
import { SignedClient } from './signed-client.js';

const GATEWAY = path.resolve(import.meta.dirname, '../../apps/gateway/src/main.js');

export interface GatewayProcess {
  child: ChildProcess;
  url: string;
  /** The admin tenant created on first start. */
  admin: SignedClient;
  /** The DATABASE_URL and JCS_DATA_DIR the process runs with (for a CLI run against the same state). */
  databaseUrl: string;
  dataDir: string;
  /** Everything the process wrote to stdout and stderr so far. */
  logs(): string;
  /** Resident set size of the gateway process now, in bytes (Linux /proc). */
  rss(): number;
  stop(): Promise<void>;
}

/** The built gateway as its own process (for measurements of the process itself, such as RSS). */
export interface GatewayProcessOptions {
  /** Put this password into DATABASE_URL (PostgreSQL here is trust auth, so any password works). */
  databasePassword?: string;
}

export async function startGatewayProcess(env: Record<string, string> = {}, opts: GatewayProcessOptions = {}): Promise<GatewayProcess> {
  const dbName = `jcs_test_proc_${randomBytes(4).toString('hex')}`;
  const dataDir = mkdtempSync(path.join(tmpdir(), 'jcs-proc-'));
  const port = 20000 + Math.floor(Math.random() * 20000);
  const dbUrl = Object.assign(new URL(BASE_DATABASE_URL), { pathname: '/' + dbName });
  if (opts.databasePassword !== undefined) dbUrl.password = opts.databasePassword;
  const databaseUrl = dbUrl.toString();
  const child = spawn(process.execPath, [GATEWAY], {
    env: {
      ...process.env,
      DATABASE_URL: databaseUrl,
      JCS_DATA_DIR: dataDir,
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      JCS_QUEUE_PREFIX: dbName,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      if ((await fetch(`${url}/healthz`)).ok) break;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`gateway did not start:\n${out}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  const keys = JSON.parse(readFileSync(path.join(dataDir, 'admin.json'), 'utf8'));
  return {
    child,
    url,
    admin: new SignedClient(url, keys),
    databaseUrl,
    dataDir,
    logs: () => out,
    rss() {
      const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
      return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
    },
    async stop() {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
      await dropDatabase(dbName);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
