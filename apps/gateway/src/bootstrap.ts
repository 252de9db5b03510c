import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { NestFactory } from '@nestjs/core';
import { Logger } from 'nestjs-pino';
import { TenantsService } from '#auth';
import type { AppConfig } from '#config';
import { GatewayModule } from './app.module.js';
import { setupOpenApi } from './openapi.js';
import { EnvelopeHttpAdapter } from './envelope/envelope-adapter.js';
import { applyServerLimits } from './common/http-server.js';
import { routedQuery } from './common/query.js';
export { listenS3, closeS3 } from './s3/server.js';

/** Builds the HTTP application (not yet listening). Shared by `main.ts` and the end-to-end tests. */
export async function createGatewayApp(config: AppConfig, masterKey: Buffer): Promise<NestExpressApplication> {
  const app = await NestFactory.create<NestExpressApplication>(GatewayModule.forRoot(config, masterKey), new EnvelopeHttpAdapter(), {
    // No framework body parser: bodies are read only after authentication, by the edge's own JSON
    // body reader (see GatewayModule.configure for the order), and multipart bodies not at all.
    bodyParser: false,
    bufferLogs: true,
    abortOnError: false,
  });
  app.useLogger(app.get(Logger));
  app.disable('x-powered-by');
  app.set('etag', false); // JSON answers are not revalidated; downloads set their own validators
  app.set('query parser', routedQuery);
  applyServerLimits(app.getHttpServer(), config);
  setupOpenApi(app);
  return app;
}

/**
 * On first start with an empty database: creates the `admin` tenant, writes its keys to
 * JCS_DATA_DIR/admin.json (mode 0600) and returns them so they can be printed once.
 */
export async function ensureAdmin(app: NestExpressApplication, config: AppConfig) {
  const tenants = app.get(TenantsService);
  if ((await tenants.countUsers()) > 0) return null;
  try {
    const admin = await tenants.createUser('admin');
    mkdirSync(config.JCS_DATA_DIR, { recursive: true });
    const file = path.join(config.JCS_DATA_DIR, 'admin.json');
    writeFileSync(file, JSON.stringify(admin, null, 2) + '\n', { mode: 0o600 });
    chmodSync(file, 0o600);
    return { ...admin, file };
  } catch (e) {
    if ((e as { code?: string }).code === 'DataExists') return null; // another instance did it first
    throw e;
  }
}
