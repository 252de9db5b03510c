import { InjectQueue, Processor, WorkerHost } from '@nestjs/bullmq';
import { Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import type { Job, Queue } from 'bullmq';
import { APP_CONFIG, type AppConfig } from '#config';
import { BlockMaintenance, type RepairReport, type ScrubReport } from '#objects';
import { REPAIR_QUEUE, SCRUB_QUEUE, type RepairJobData } from '#redundancy';

/**
 * Repairs one object per job (issue 9 §6). A block that could not be rebuilt now fails the job, so
 * BullMQ retries it with backoff; after that, the scrub job's sweep queues it again.
 */
@Processor(REPAIR_QUEUE, { concurrency: 2 })
export class RepairProcessor extends WorkerHost {
  constructor(private readonly maintenance: BlockMaintenance) {
    super();
  }

  async process(job: Job<RepairJobData>): Promise<RepairReport> {
    const report = await this.maintenance.repair(job.data.userId, job.data.objectId);
    if (report.failed > 0) throw new Error(`${report.failed} block(s) of object ${job.data.objectId} could not be repaired yet`);
    return report;
  }
}

/**
 * A scrub pass per job: first the sweep (a repair for every object with a block not `ok`), then every
 * block not checked for JCS_SCRUB_INTERVAL_SECONDS, at JCS_SCRUB_BYTES_PER_SECOND. One at a time;
 * a pass killed midway resumes where it was (checked_at is the progress).
 */
@Processor(SCRUB_QUEUE, { concurrency: 1, lockDuration: 60_000 })
export class ScrubProcessor extends WorkerHost {
  constructor(private readonly maintenance: BlockMaintenance) {
    super();
  }

  async process(_job: Job): Promise<ScrubReport & { swept: number }> {
    const swept = await this.maintenance.sweep();
    return { swept, ...(await this.maintenance.scrub()) };
  }
}

/** Keeps the repeating scrub job scheduled (upsert: idempotent); 0 for either setting removes it. */
@Injectable()
export class ScrubSchedule implements OnApplicationBootstrap {
  private readonly log = new Logger('ScrubSchedule');

  constructor(
    @InjectQueue(SCRUB_QUEUE) private readonly queue: Queue,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const { JCS_SCRUB_INTERVAL_SECONDS: interval, JCS_SCRUB_BYTES_PER_SECOND: rate } = this.config;
    if (interval === 0 || rate === 0) {
      await this.queue.removeJobScheduler('scrub-periodic');
      this.log.log('scrub is off');
      return;
    }
    // A pass at least every hour, so blocks reach their interval in small steps and the sweep runs often.
    await this.queue.upsertJobScheduler(
      'scrub-periodic',
      { every: Math.min(interval, 3600) * 1000 },
      { name: 'scrub', opts: { removeOnComplete: 50, removeOnFail: 50 } },
    );
    this.log.log(`scrub: every block every ${interval} s at ${rate} B/s`);
  }
}
