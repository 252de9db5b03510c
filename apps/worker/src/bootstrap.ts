import { NestFactory } from '@nestjs/core';
import { Logger } from 'nestjs-pino';
import type { INestApplicationContext } from '@nestjs/common';
import type { AppConfig } from '#config';
import { WorkerModule } from './worker.module.js';

/** Starts the worker's Nest context (queues, processors, schedules); close() drains it. */
export async function startWorker(config: AppConfig, masterKey: Buffer): Promise<INestApplicationContext> {
  const ctx = await NestFactory.createApplicationContext(WorkerModule.forRoot(config, masterKey), {
    bufferLogs: true,
    abortOnError: false,
  });
  ctx.useLogger(ctx.get(Logger));
  await ctx.init();
  return ctx;
}
