import { Inject, Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { APP_CONFIG, type AppConfig } from '#config';
import { PROCESS_INSTANCE_ID } from './shard-store.js';

/**
 * Keeps this process's row in `gateway_instances` fresh (every third of JCS_INSTANCE_TTL_SECONDS),
 * registered before the process writes any temp file. The collector sweeps the temp files of an
 * instance whose heartbeat is older than the TTL (it crashed) at once, and a live one's only after
 * JCS_GC_TEMP_GRACE_SECONDS. The row is not removed on shutdown: another part of the same process
 * (gateway and worker in one) may still be writing; a stale row is what tells the sweep it may go.
 */
@Injectable()
export class InstanceHeartbeat implements OnModuleInit, OnModuleDestroy {
  private readonly log = new Logger('InstanceHeartbeat');
  private timer?: NodeJS.Timeout;
  readonly instanceId = PROCESS_INSTANCE_ID;

  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async onModuleInit(): Promise<void> {
    await this.beat();
    const every = Math.max(200, (this.config.JCS_INSTANCE_TTL_SECONDS * 1000) / 3);
    this.timer = setInterval(() => {
      this.beat().catch((e: Error) => this.log.warn({ err: e.message }, 'instance heartbeat failed'));
    }, every);
    this.timer.unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.timer);
  }

  private async beat(): Promise<void> {
    if (!this.ds.isInitialized) return;
    await this.ds.query(
      `INSERT INTO gateway_instances (instance_id) VALUES ($1)
       ON CONFLICT (instance_id) DO UPDATE SET heartbeat_time = now()`,
      [this.instanceId],
    );
  }
}
