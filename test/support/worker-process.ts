import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

const WORKER = path.resolve(import.meta.dirname, '../../apps/worker/src/main.js');

export interface WorkerProcess {
  child: ChildProcess;
  output(): string;
  /** Sends the signal and resolves when the process has exited. */
  kill(signal: NodeJS.Signals): Promise<void>;
}

/**
 * The built worker (`apps/worker/src/main.js`) as its own process, on a gateway process's database,
 * data folder (master key) and queue prefix; resolves once it says it started.
 */
export async function launchWorkerProcess(
  gw: { databaseUrl: string; dataDir: string; dbName: string },
  env: Record<string, string> = {},
): Promise<WorkerProcess> {
  const child = spawn(process.execPath, ['--openssl-legacy-provider', WORKER], {
    env: {
      ...process.env,
      DATABASE_URL: gw.databaseUrl,
      JCS_DATA_DIR: gw.dataDir,
      JCS_QUEUE_PREFIX: gw.dbName,
      LOG_LEVEL: 'warn',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const deadline = Date.now() + 60_000;
  while (!out.includes('worker started')) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`worker did not start:\n${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    child,
    output: () => out,
    async kill(signal) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}
