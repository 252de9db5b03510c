import { Controller, Get, Inject, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { InjectDataSource } from '@nestjs/typeorm';
import type { Response } from 'express';
import { Redis } from 'ioredis';
import { DataSource } from 'typeorm';
import { REDIS } from '#core';
import { Public } from '../auth/tenant.js';

/** Probes for orchestrators: liveness (the process answers) and readiness (its dependencies answer). */
@ApiExcludeController()
@Public()
@Controller()
export class HealthController {
  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    @Inject(REDIS) private readonly redis: Redis,
  ) {}

  @Get('healthz')
  healthz() {
    return { status: 'up' };
  }

  @Get('readyz')
  async readyz(@Res({ passthrough: true }) res: Response) {
    const [postgres, redis] = await Promise.all([
      probe(() => this.ds.query('SELECT 1')),
      probe(() => this.redis.ping()),
    ]);
    const ready = postgres === 'up' && redis === 'up';
    res.status(ready ? 200 : 503);
    return { status: ready ? 'ready' : 'not ready', postgres, redis };
  }
}

async function probe(fn: () => Promise<unknown>): Promise<string> {
  try {
    await Promise.race([fn(), new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), 2000).unref())]);
    return 'up';
  } catch (e) {
    return `down: ${(e as Error).message}`;
  }
}
