import { Inject, Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { Worker, type Job } from 'bullmq';
import { DataSource } from 'typeorm';
import { APP_CONFIG, type AppConfig } from '#config';
import { REDIS } from '#core';
import type { Redis } from 'ioredis';
import { SYNC_QUEUE, SyncRunner, SyncSchedules, type SyncTaskSpec, type SyncTickData, type TickResult } from '#space-syncer';

/**
 * The syncer's side of the worker: a BullMQ worker that turns each tick into a run (at most
 * JCS_SYNC_CONCURRENT_RUNS at once), and a reconciler that keeps Redis in line with PostgreSQL: at
 * start, and whenever it finds Redis emptied (its marker key gone), it schedules every live task again;
 * every few seconds it hands runs whose worker died (lease expired) to a resume tick.
 */
@Injectable()
export class SyncWorker implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly log = new Logger('SyncWorker');
  private worker?: Worker;
  private timer?: NodeJS.Timeout;
  private reconciling?: Promise<void>;

  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly runner: SyncRunner,
    private readonly schedules: SyncSchedules,
    @Inject(REDIS) private readonly redis: Redis,
  ) {}

  private get markerKey(): string {
    return `${this.config.JCS_QUEUE_PREFIX}:${SYNC_QUEUE}:restored`;
  }

  async onApplicationBootstrap(): Promise<void> {
    this.worker = new Worker(SYNC_QUEUE, (job: Job<SyncTickData>) => this.process(job), {
      connection: { url: this.config.REDIS_URL, maxRetriesPerRequest: null },
      prefix: this.config.JCS_QUEUE_PREFIX,
      concurrency: this.config.JCS_SYNC_CONCURRENT_RUNS,
    });
    this.worker.on('error', (e) => this.log.warn(`queue: ${e.message}`));
    // In the background: start-up (and the process's signal handlers, installed after it) does not
    // wait for the database and Redis round trips of a full restore.
    this.reconciling = this.reconcile(true).finally(() => (this.reconciling = undefined));
    this.timer = setInterval(() => {
      this.reconciling ??= this.reconcile(false).finally(() => (this.reconciling = undefined));
    }, this.config.JCS_SYNC_RECONCILE_SECONDS * 1000);
  }

  private async process(job: Job<SyncTickData>): Promise<TickResult> {
    const result = await this.runner.tick(Number(job.data.taskId));
    if (result === 'skipped') this.log.log(`task ${job.data.taskId}: a run is still going, tick skipped`);
    return result;
  }

  /** Restores schedules (always at start; later only when Redis lost them) and resumes orphaned runs. */
  async reconcile(atStart: boolean): Promise<void> {
    try {
      const redis = this.redis;
      if (atStart || !(await redis.exists(this.markerKey))) {
        const tasks: { task_id: string; spec: SyncTaskSpec; state: string }[] = await this.ds.query(
          `SELECT task_id, spec, state FROM sync_tasks WHERE state IN ('Scheduled', 'Running') ORDER BY task_id`,
        );
        for (const t of tasks) {
          // A Once task only needs its tick while it has not run yet.
          if (t.spec.trigger.type === 'Once' && t.state !== 'Scheduled') continue;
          await this.schedules.schedule(Number(t.task_id), t.spec.trigger, { late: t.state === 'Scheduled' });
        }
        await redis.set(this.markerKey, String(Date.now()));
        if (!atStart) this.log.warn(`Redis had lost the syncer's schedules: ${tasks.length} tasks scheduled again`);
      }
      const orphans: { task_id: string; current_run_id: string; state: string }[] = await this.ds.query(
        `SELECT task_id, current_run_id, state FROM sync_tasks WHERE current_run_id IS NOT NULL AND lease_until < now()`,
      );
      for (const o of orphans) {
        if (o.state === 'Cancelled') await this.runner.closeCancelledRun(Number(o.task_id), Number(o.current_run_id));
        else await this.schedules.resume(Number(o.task_id), Number(o.current_run_id));
      }
    } catch (e) {
      this.log.warn(`reconcile failed: ${(e as Error).message}`);
    }
  }

  /** Before the database and Redis connections close: the stopped runs still save their progress. */
  async beforeApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.reconciling;
    // Runs may take hours: stop them (they are resumed by the next worker) rather than wait.
    this.runner.stopAll();
    await this.worker?.close();
  }
}
