import './threadpool.js';
import 'reflect-metadata';
import { loadConfig, resolveMasterKey } from '#config';
import { pingRedis } from '#core';
import { ensureDatabase } from '#db';
import { configureCodecPool } from '#redundancy';
import { startWorker } from './bootstrap.js';

/** `node dist/apps/worker/src/main.js`: the worker alone (production runs it apart from the gateway). */
async function main(): Promise<void> {
  const config = loadConfig();
  configureCodecPool(config.JCS_CODEC_THREADS);
  const masterKey = resolveMasterKey(config, (m) => console.warn(JSON.stringify({ level: 'warn', msg: m })));
  await ensureDatabase(config.DATABASE_URL);
  await pingRedis(config.REDIS_URL);
  const worker = await startWorker(config, masterKey);
  console.log(JSON.stringify({ level: 'info', msg: 'worker started' }));
  const shutdown = async () => {
    await worker.close(); // lets the running job finish
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown());
  process.once('SIGINT', () => void shutdown());
}

main().catch((e: Error) => {
  console.error(`worker failed to start: ${e.message}`);
  process.exit(1);
});
