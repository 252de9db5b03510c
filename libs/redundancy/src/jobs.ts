import { Inject, Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import { Queue, type JobsOptions } from 'bullmq';
import { APP_CONFIG, type AppConfig } from '#config';

/**
 * The redundancy jobs on BullMQ (run by apps/worker). PostgreSQL is the source of truth for what
 * needs doing (block states, objects whose stored redundancy differs from their package's policy),
 * so a job only names an object or a package and re-reads everything when it runs; a job lost with
 * Redis is found again by the worker's periodic sweep. Job IDs are derived from what they name, so
 * queueing the same repair twice while one waits adds nothing.
 */
export const REPAIR_QUEUE = 'redundancy-repair';
export const CONVERT_QUEUE = 'redundancy-convert';
export const SCRUB_QUEUE = 'redundancy-scrub';

/** Rebuild the object's missing or corrupt blocks. */
export interface RepairJobData {
  userId: number;
  objectId: number;
}

/** Re-encode one object (`objectId`) or every object of a package (`packageId`) to its package's policy. */
export interface ConvertJobData {
  userId: number;
  objectId?: number;
  packageId?: number;
}

const JOB_OPTS: JobsOptions = { removeOnComplete: true, removeOnFail: true, attempts: 3, backoff: { type: 'exponential', delay: 2000 } };

/** Enqueues redundancy jobs; usable from the gateway and the worker. */
@Injectable()
export class RedundancyJobs implements OnModuleDestroy {
  private readonly log = new Logger('RedundancyJobs');
  readonly repairs: Queue<RepairJobData>;
  readonly converts: Queue<ConvertJobData>;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    const opts = { connection: { url: config.REDIS_URL, maxRetriesPerRequest: null }, prefix: config.JCS_QUEUE_PREFIX };
    this.repairs = new Queue<RepairJobData>(REPAIR_QUEUE, opts);
    this.converts = new Queue<ConvertJobData>(CONVERT_QUEUE, opts);
    for (const q of [this.repairs, this.converts]) q.on('error', (e) => this.log.warn(`queue: ${e.message}`));
  }

  /** Best effort: a failure is logged, not thrown (the sweep finds the work again from PostgreSQL). */
  async queueRepair(userId: number, objectId: number): Promise<void> {
    await this.repairs
      .add('repair', { userId, objectId }, { ...JOB_OPTS, jobId: `repair-${objectId}` })
      .catch((e: Error) => this.log.warn({ objectId, err: e.message }, 'could not queue a repair'));
  }

  async queueConvert(userId: number, target: { objectId: number } | { packageId: number }): Promise<void> {
    const jobId = 'objectId' in target ? `convert-object-${target.objectId}` : `convert-package-${target.packageId}`;
    await this.converts
      .add('convert', { userId, ...target }, { ...JOB_OPTS, jobId })
      .catch((e: Error) => this.log.warn({ ...target, err: e.message }, 'could not queue a conversion'));
  }

  async onModuleDestroy(): Promise<void> {
    await Promise.all([this.repairs.close(), this.converts.close()]);
  }
}
