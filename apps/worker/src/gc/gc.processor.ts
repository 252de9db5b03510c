import { InjectQueue, Processor, WorkerHost } from '@nestjs/bullmq';
import { Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import type { Job, Queue } from 'bullmq';
import { APP_CONFIG, type AppConfig } from '#config';
import { GarbageCollector, type GcReport } from '#garbage-collector';

export const GC_QUEUE = 'gc';

/** Runs the garbage collector for each job of the `gc` queue (one at a time). */
@Processor(GC_QUEUE, { concurrency: 1 })
export class GcProcessor extends WorkerHost {
  constructor(private readonly collector: GarbageCollector) {
    super();
  }

  async process(_job: Job): Promise<GcReport> {
    return this.collector.run();
  }
}

/** Keeps one repeating GC job scheduled; upserting is idempotent, so every worker may do it at boot. */
@Injectable()
export class GcSchedule implements OnApplicationBootstrap {
  private readonly log = new Logger('GcSchedule');

  constructor(
    @InjectQueue(GC_QUEUE) private readonly queue: Queue,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.queue.upsertJobScheduler(
      'gc-periodic',
      { every: this.config.JCS_GC_INTERVAL_SECONDS * 1000 },
      { name: 'collect', opts: { removeOnComplete: 50, removeOnFail: 50 } },
    );
    this.log.log(`garbage collection every ${this.config.JCS_GC_INTERVAL_SECONDS} s`);
  }
}
