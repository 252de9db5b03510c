import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BASE_DATABASE_URL, dropDatabase } from './gateway.js';
import { SignedClient } from './signed-client.js';
import { freePort } from './ports.js';

const GATEWAY = path.resolve(import.meta.dirname, '../../apps/gateway/src/main.js');

export interface GatewayProcess {
  child: ChildProcess;
  url: string;
  /** The S3 listener's base URL (JCS_S3_PORT on a free port unless the env sets it). */
  s3Url: string;
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
  const port = await freePort();
  const s3Port = env.JCS_S3_PORT ?? String(await freePort());
  const dbUrl = Object.assign(new URL(BASE_DATABASE_URL), { pathname: '/' + dbName });
  if (opts.databasePassword !== undefined) dbUrl.password = opts.databasePassword;
  const databaseUrl = dbUrl.toString();
  const child = spawn(process.execPath, [GATEWAY], {
    env: {
      ...process.env,
      DATABASE_URL: databaseUrl,
      JCS_DATA_DIR: dataDir,
      PORT: String(port),
      JCS_S3_PORT: s3Port,
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
    s3Url: s3Port === '0' ? '' : `http://127.0.0.1:${s3Port}`,
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

const CLI = path.resolve(import.meta.dirname, '../../apps/cli/src/main.js');

export interface GatewayInstanceOptions {
  /** Database and data folder to run on (reused across restarts); fresh ones when absent. */
  dbName?: string;
  dataDir?: string;
  env?: Record<string, string>;
  /** Extra arguments, e.g. `--with-worker`. */
  args?: string[];
}

/** One run of the gateway process on a database and data folder that outlive it (crash tests). */
export interface GatewayInstance {
  child: ChildProcess;
  url: string;
  /** The S3 listener's base URL ('' when the env sets JCS_S3_PORT=0). */
  s3Url: string;
  port: number;
  dbName: string;
  dataDir: string;
  databaseUrl: string;
  admin: SignedClient;
  /** Everything the process printed so far (stdout and stderr). */
  output(): string;
  alive(): boolean;
  /** Sends the signal and resolves when the process has exited. */
  kill(signal: NodeJS.Signals): Promise<void>;
  /** A new tenant through the operator CLI, on the same database and master key. */
  createTenant(name: string): Promise<{ userID: number; accessKey: string; secretKey: string; client: SignedClient }>;
}

export const databaseUrlOf = (dbName: string) => Object.assign(new URL(BASE_DATABASE_URL), { pathname: '/' + dbName }).toString();

/**
 * Starts the built gateway on the given (or a fresh) database and data folder, on a new random port,
 * and waits until /healthz answers. Nothing is removed when it exits: see dropGatewayData.
 */
export async function launchGatewayProcess(opts: GatewayInstanceOptions = {}): Promise<GatewayInstance> {
  const dbName = opts.dbName ?? `jcs_test_proc_${randomBytes(4).toString('hex')}`;
  const dataDir = opts.dataDir ?? mkdtempSync(path.join(tmpdir(), 'jcs-proc-'));
  const databaseUrl = databaseUrlOf(dbName);
  const env = {
    ...process.env,
    DATABASE_URL: databaseUrl,
    JCS_DATA_DIR: dataDir,
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    JCS_QUEUE_PREFIX: dbName,
    ...opts.env,
  };
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const s3Port = opts.env?.JCS_S3_PORT ?? String(await freePort());
    const child = spawn(process.execPath, [GATEWAY, ...(opts.args ?? [])], {
      env: { JCS_S3_PORT: s3Port, ...env, PORT: String(port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (out += d));
    const exited = new Promise<void>((r) => (child.exitCode !== null || child.signalCode !== null ? r() : child.once('exit', () => r())));
    const url = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 60_000;
    let up = false;
    while (!up) {
      try {
        up = (await fetch(`${url}/healthz`)).ok;
      } catch {
        /* not up yet */
      }
      if (up || child.exitCode !== null || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    if (!up) {
      if (child.exitCode === null) child.kill('SIGKILL');
      // A random port may be taken by someone else: try another one, a few times.
      if (/EADDRINUSE/.test(out) && attempt < 3) continue;
      throw new Error(`gateway did not start:\n${out}`);
    }
    const keys = JSON.parse(readFileSync(path.join(dataDir, 'admin.json'), 'utf8'));
    return {
      child,
      url,
      s3Url: s3Port === '0' ? '' : `http://127.0.0.1:${s3Port}`,
      port,
      dbName,
      dataDir,
      databaseUrl,
      admin: new SignedClient(url, keys),
      output: () => out,
      alive: () => child.exitCode === null && child.signalCode === null,
      async kill(signal) {
        child.kill(signal);
        await exited;
      },
      async createTenant(name) {
        const cli = spawn(process.execPath, [CLI, 'user', 'create', '--name', name], { env, stdio: ['ignore', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        cli.stdout!.on('data', (d) => (stdout += d));
        cli.stderr!.on('data', (d) => (stderr += d));
        const code = await new Promise<number | null>((r) => cli.once('exit', r));
        if (code !== 0) throw new Error(`cli user create failed (${code}): ${stderr}`);
        const t = JSON.parse(stdout.trim().split('\n').pop()!);
        return { ...t, client: new SignedClient(url, { accessKey: t.accessKey, secretKey: t.secretKey }) };
      },
    };
  }
}

/** Drops the database and removes the data folder of gateway instances that have all exited. */
export async function dropGatewayData(dbName: string, dataDir: string): Promise<void> {
  await dropDatabase(dbName);
  rmSync(dataDir, { recursive: true, force: true });
}
