import { spawn } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { log, repoRoot, type BenchEnv, type Service } from './processes.js';

const launcher = path.join(path.dirname(fileURLToPath(import.meta.url)), 's3rver-server.js');

/**
 * Starts `bench/s3rver-server.ts` (s3rver in its own process) with the given buckets and waits for
 * the endpoint it prints. The process is handed to `env`, whose `dispose()` stops it (SIGTERM: the
 * launcher removes its data folder); its data folder lives in the bench's temp folder either way.
 */
export async function startS3rverProcess(env: BenchEnv, buckets: string[]): Promise<Service> {
  const logFile = path.join(env.root, 's3rver.log');
  const child = spawn(process.execPath, [launcher, ...buckets], {
    cwd: repoRoot,
    env: { ...process.env, TMPDIR: env.root },
    // stdin stays open for the launcher's lifetime: it stops when the bench goes away.
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const out = createWriteStream(logFile, { flags: 'a' });
  child.stderr!.pipe(out);
  const service: Service = { name: 's3rver', url: '', child, pid: child.pid!, logFile };
  env.adopt(service);
  const lines = createInterface({ input: child.stdout! });
  try {
    const first = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('timeout')), 30_000);
      lines.once('line', (l) => (clearTimeout(timer), resolve(l)));
      child.once('exit', (code, sig) => (clearTimeout(timer), reject(new Error(`exited with ${code ?? sig}`))));
    });
    service.url = (JSON.parse(first) as { endpoint: string }).endpoint;
  } catch (e) {
    child.kill('SIGKILL');
    throw new Error(`s3rver did not come up (${(e as Error).message}); log:\n${readFileSync(logFile, 'utf8').slice(-2000)}`);
  }
  lines.on('line', (l) => out.write(l + '\n'));
  log(`s3rver pid ${service.pid} at ${service.url} (buckets ${buckets.join(', ')})`);
  return service;
}
