import { InjectQueue, Processor, WorkerHost } from '@nestjs/bullmq';
import { Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import type { Job, Queue } from 'bullmq';
import { APP_CONFIG, type AppConfig } from '#config';
import { ObjectConverter } from '#objects';
import { CONVERT_QUEUE, type ConvertJobData } from '#redundancy';

/**
 * Conversions (issue 9 §6): a job names an object (`objectId`: an upload on the wrong side of an
 * `auto` threshold, a completed multipart upload) or a package (`packageId`: setRedundancy); the
 * `sweep` job of the schedule queues a package job for every package with pending objects.
 */
@Processor(CONVERT_QUEUE, { concurrency: 1, lockDuration: 120_000 })
export class ConvertProcessor extends WorkerHost {
  constructor(private readonly converter: ObjectConverter) {
    super();
  }

  async process(job: Job<ConvertJobData>): Promise<unknown> {
    if (job.name === 'sweep') return { queued: await this.converter.sweep() };
    const { userId, objectId, packageId } = job.data;
    if (objectId !== undefined) return { outcome: await this.converter.convertObject(userId, objectId) };
    if (packageId !== undefined) {
      const report = await this.converter.convertPackage(userId, packageId);
      // Failures are retried by BullMQ (attempts/backoff), then by the sweep.
      if (report.failed > 0) throw new Error(`${report.failed} object(s) of package ${packageId} could not be converted yet`);
      return report;
    }
    return null;
  }
}

/** Keeps the repeating conversion sweep scheduled (JCS_CONVERT_SWEEP_SECONDS; upsert: idempotent). */
@Injectable()
export class ConvertSchedule implements OnApplicationBootstrap {
  private readonly log = new Logger('ConvertSchedule');

  constructor(
    @InjectQueue(CONVERT_QUEUE) private readonly queue: Queue,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.queue.upsertJobScheduler(
      'convert-sweep',
      { every: this.config.JCS_CONVERT_SWEEP_SECONDS * 1000 },
      { name: 'sweep', data: { userId: 0 }, opts: { removeOnComplete: 50, removeOnFail: 50 } },
    );
    this.log.log(`conversion sweep every ${this.config.JCS_CONVERT_SWEEP_SECONDS} s`);
  }
}
