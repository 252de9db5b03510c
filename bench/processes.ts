import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

/** Progress goes to stderr: stdout carries the one JSON document and nothing else. */
export const log = (msg: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

const here = path.dirname(fileURLToPath(import.meta.url)); // dist/bench
export const repoRoot = path.resolve(here, '..', '..');
const gatewayMain = path.join(repoRoot, 'dist/apps/gateway/src/main.js');
const baselineMain = path.join(here, 'baseline-server.js');
const profilerPreload = path.join(here, 'cpu-profiler.js');
/** What package.json's start scripts put before the gateway's main (kept equal by hand). */
const GATEWAY_NODE_FLAGS = ['--max-semi-space-size=4'];

export const BASE_DATABASE_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

async function adminQuery(sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: BASE_DATABASE_URL });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

/** A free loopback port (bound then released: the tiny race is acceptable on a bench machine). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

function getStatus(url: string): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get(url, { agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.setTimeout(2000, () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

export interface Service {
  name: string;
  url: string;
  child: ChildProcess;
  pid: number;
  logFile: string;
  /** The gateway's S3 listener (issue 11), when it runs one. */
  s3Url?: string;
}

/** Spawns a Node process, sends its output to a log file, and waits until GET /healthz answers 200. */
async function startService(name: string, args: string[], env: Record<string, string>, logFile: string, ipc = false): Promise<Service> {
  const port = Number(env.PORT);
  const child = spawn(process.execPath, args, {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe', ...(ipc ? (['ipc'] as const) : [])],
  });
  const out = createWriteStream(logFile, { flags: 'a' });
  child.stdout!.pipe(out);
  child.stderr!.pipe(out);
  let exited: string | undefined;
  child.once('exit', (code, sig) => (exited = `exited with ${code ?? sig}`));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  while ((await getStatus(`${url}/healthz`)) !== 200) {
    if (exited || Date.now() > deadline) {
      const tail = readFileSync(logFile, 'utf8').split('\n').slice(-20).join('\n');
      child.kill('SIGKILL');
      throw new Error(`${name} did not come up (${exited ?? 'timeout'}); last log lines:\n${tail}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { name, url, child, pid: child.pid!, logFile };
}

/** Stops a service this bench started (by its own handle), waiting for it to exit. */
export async function stopService(s: Service | undefined): Promise<void> {
  if (!s || s.child.exitCode !== null || s.child.signalCode !== null) return;
  const gone = new Promise<void>((r) => s.child.once('exit', () => r()));
  s.child.kill('SIGTERM');
  const timer = setTimeout(() => s.child.kill('SIGKILL'), 10_000);
  await gone;
  clearTimeout(timer);
}

/**
 * What one bench run owns: a fresh database `jcs_bench_<random>` and a fresh temp folder holding the
 * gateway's data dir, the baseline's files, logs and profiles. `dispose()` removes all of it.
 */
export class BenchEnv {
  readonly dbName = `jcs_bench_${randomBytes(5).toString('hex')}`;
  readonly root = mkdtempSync(path.join(process.env.BENCH_TMPDIR ?? tmpdir(), 'jcs-bench-'));
  readonly dataDir = path.join(this.root, 'gateway-data');
  readonly baselineDir = path.join(this.root, 'baseline-files');
  readonly profileDir = path.join(this.root, 'profiles');
  readonly databaseUrl: string;
  private services = new Set<Service>();
  private dbCreated = false;

  constructor() {
    const u = new URL(BASE_DATABASE_URL);
    u.pathname = '/' + this.dbName;
    this.databaseUrl = u.toString();
    for (const d of [this.dataDir, this.baselineDir, this.profileDir]) mkdirSync(d, { recursive: true });
  }

  async createDatabase(): Promise<void> {
    await adminQuery(`CREATE DATABASE "${this.dbName}"`);
    this.dbCreated = true;
  }

  /** The built gateway, as `npm start:gateway` runs it; with `profile`, the CPU profiler preloaded. */
  async startGateway(opts: { profile?: boolean } = {}): Promise<Service> {
    const port = await freePort();
    const s3Port = await freePort();
    // The gateway's node flags as `npm start` and the Dockerfile give them (package.json).
    const args = [...GATEWAY_NODE_FLAGS, ...(opts.profile ? ['--import', profilerPreload, gatewayMain] : [gatewayMain])];
    const s = await startService(
      'gateway',
      args,
      {
        DATABASE_URL: this.databaseUrl,
        JCS_DATA_DIR: this.dataDir,
        PORT: String(port),
        JCS_S3_PORT: String(s3Port),
        HOST: '127.0.0.1',
        LOG_LEVEL: 'warn',
        JCS_MAX_FILES_PER_UPLOAD: '1000',
        JCS_QUEUE_PREFIX: `jcs-${this.dbName}`,
        ...(opts.profile ? { BENCH_CPU_PROFILE_DIR: this.profileDir } : {}),
      },
      path.join(this.root, 'gateway.log'),
      opts.profile,
    );
    s.s3Url = `http://127.0.0.1:${s3Port}`;
    this.services.add(s);
    return s;
  }

  async startBaseline(): Promise<Service> {
    const port = await freePort();
    const s = await startService(
      'baseline',
      [baselineMain],
      { PORT: String(port), BASELINE_DIR: this.baselineDir, DATABASE_URL: this.databaseUrl },
      path.join(this.root, 'baseline.log'),
    );
    this.services.add(s);
    return s;
  }

  /** A process started elsewhere (e.g. s3rver) that `dispose()` must stop too, before the temp folder goes. */
  adopt(s: Service): void {
    this.services.add(s);
  }

  async stop(s: Service): Promise<void> {
    await stopService(s);
    this.services.delete(s);
  }

  adminCredentials(): { userID: number; accessKey: string; secretKey: string } {
    return JSON.parse(readFileSync(path.join(this.dataDir, 'admin.json'), 'utf8'));
  }

  async dispose(): Promise<void> {
    for (const s of this.services) await stopService(s).catch(() => undefined);
    this.services.clear();
    if (this.dbCreated) {
      await adminQuery(`DROP DATABASE IF EXISTS "${this.dbName}" WITH (FORCE)`).catch((e: Error) => log(`could not drop ${this.dbName}: ${e.message}`));
      this.dbCreated = false;
    }
    rmSync(this.root, { recursive: true, force: true });
  }
}
