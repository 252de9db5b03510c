import { Inject, Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import { Queue, type JobsOptions } from 'bullmq';
import { APP_CONFIG, type AppConfig } from '#config';
import type { SyncTrigger } from './task-spec.js';

export const SYNC_QUEUE = 'space-syncer';

/** What a tick job carries: only the task's ID; everything else is read from PostgreSQL when it runs. */
export interface SyncTickData {
  taskId: number;
}

const TICK_OPTS: JobsOptions = { removeOnComplete: true, removeOnFail: true, attempts: 1 };

const onceId = (taskId: number) => `once-${taskId}`;
const intervalId = (taskId: number) => `interval-${taskId}`;
const atId = (taskId: number, at: string) => `at-${taskId}-${Date.parse(at)}`;

/**
 * A task's trigger as BullMQ jobs: `Once` one job now, `Interval` a job scheduler (`every`), `At` one
 * delayed job per time. Job IDs are derived from the task, so scheduling again (at a worker's start,
 * after Redis was emptied) adds nothing that is already there. PostgreSQL stays the source of truth:
 * these jobs are only ticks, and a tick re-reads the task.
 */
@Injectable()
export class SyncSchedules implements OnModuleDestroy {
  private readonly log = new Logger('SyncSchedules');
  readonly queue: Queue;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.queue = new Queue(SYNC_QUEUE, { connection: { url: config.REDIS_URL, maxRetriesPerRequest: null }, prefix: config.JCS_QUEUE_PREFIX });
    this.queue.on('error', (e) => this.log.warn(`queue: ${e.message}`));
  }

  /** `late`: the task is waiting for its next time (restoring it): an At time already past still runs. */
  async schedule(taskId: number, trigger: SyncTrigger, opts: { late?: boolean } = {}, now = Date.now()): Promise<void> {
    const data: SyncTickData = { taskId };
    switch (trigger.type) {
      case 'Once':
        await this.queue.add('tick', data, { ...TICK_OPTS, jobId: onceId(taskId) });
        return;
      case 'Interval':
        // An `every` scheduler produces its first job at once: "runs now and then every interval".
        await this.queue.upsertJobScheduler(intervalId(taskId), { every: trigger.interval * 1000 }, { name: 'tick', data, opts: TICK_OPTS });
        return;
      case 'At': {
        const ahead = trigger.at.filter((at) => Date.parse(at) > now);
        for (const at of ahead) await this.queue.add('tick', data, { ...TICK_OPTS, jobId: atId(taskId, at), delay: Date.parse(at) - now });
        // Restoring a task still waiting for a time that passed while its tick was lost (Redis emptied,
        // no worker): it runs late rather than never.
        if (ahead.length === 0 && opts.late) await this.queue.add('tick', data, { ...TICK_OPTS, jobId: `at-${taskId}-late` });
        return;
      }
    }
  }

  /** Removes every tick of the task that has not started (a running one is stopped through the database). */
  async unschedule(taskId: number, trigger: SyncTrigger): Promise<void> {
    const removals: Promise<unknown>[] = [];
    if (trigger.type === 'Interval') removals.push(this.queue.removeJobScheduler(intervalId(taskId)));
    if (trigger.type === 'Once') removals.push(this.queue.remove(onceId(taskId)));
    if (trigger.type === 'At') for (const at of [...trigger.at.map((a) => atId(taskId, a)), `at-${taskId}-late`]) removals.push(this.queue.remove(at));
    // A job that is running cannot be removed (BullMQ refuses while it is locked): the run stops itself.
    await Promise.all(removals.map((p) => p.catch(() => undefined)));
  }

  /** A tick that resumes the task's interrupted run (deduplicated per run while it waits). */
  async resume(taskId: number, runId: number): Promise<void> {
    await this.queue.add('tick', { taskId }, { ...TICK_OPTS, jobId: `resume-${runId}` });
  }

  async onModuleDestroy(): Promise<void> {
    await this.queue.close();
  }
}
