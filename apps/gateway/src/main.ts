import './threadpool.js';
import 'reflect-metadata';
import { Logger } from 'nestjs-pino';
import { loadConfig, resolveMasterKey } from '#config';
import { pingRedis } from '#core';
import { ensureDatabase } from '#db';
import { configureCodecPool } from '#redundancy';
import { createGatewayApp, ensureAdmin } from './bootstrap.js';
import { startWorker } from '#worker';

/**
 * `node dist/apps/gateway/src/main.js [--with-worker]`. Start-up failures print one clear line (what is
 * wrong and how to fix it) and exit 1; a stack trace is never the only output.
 */
async function main(): Promise<void> {
  const config = loadConfig();
  configureCodecPool(config.JCS_CODEC_THREADS);
  const masterKey = resolveMasterKey(config, (m) => console.warn(JSON.stringify({ level: 'warn', msg: m })));

  // Graceful shutdown: stop taking connections, let requests in flight finish, close the worker (it
  // finishes its current job), the pools and queues, then exit 0. Installed before anything starts:
  // a SIGTERM while the worker is still starting (the gateway may already answer) must not kill the
  // process uncleanly.
  let app: Awaited<ReturnType<typeof createGatewayApp>> | undefined;
  let worker: Awaited<ReturnType<typeof startWorker>> | undefined;
  const shutdown = async (signal: string) => {
    if (app) app.get(Logger).log(`${signal} received: shutting down`);
    const force = setTimeout(() => process.exit(1), 30_000).unref();
    await Promise.allSettled([app?.close(), worker?.close()]);
    clearTimeout(force);
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));

  await ensureDatabase(config.DATABASE_URL);
  await pingRedis(config.REDIS_URL);

  app = await createGatewayApp(config, masterKey);
  const log = app.get(Logger);
  const admin = await ensureAdmin(app, config);
  if (admin) {
    // Printed once, on the first start with an empty database; also saved (mode 0600) in admin.json.
    console.log(`admin tenant created: ${JSON.stringify({ userID: admin.userID, accessKey: admin.accessKey, secretKey: admin.secretKey })}`);
    console.log(`(saved to ${admin.file})`);
  }
  await app.listen(config.PORT, config.HOST);
  log.log(`gateway listening on http://${config.HOST}:${config.PORT} (docs at /docs)`);

  if (process.argv.includes('--with-worker')) worker = await startWorker(config, masterKey);
}

main().catch((e: Error) => {
  console.error(`gateway failed to start: ${e.message}`);
  process.exit(1);
});
