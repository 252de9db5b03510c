import { BullModule } from '@nestjs/bullmq';
import { Module, type DynamicModule } from '@nestjs/common';
import type { AppConfig } from '../../../libs/config/src/index.js';
import { CoreModule } from '../../../libs/core/src/index.js';
import { ObjectsModule } from '../../../libs/objects/src/index.js';
import { GC_QUEUE, GcProcessor, GcSchedule } from './gc/gc.processor.js';

/** The BullMQ side: background jobs (garbage collection, sync runs) and their schedules. */
@Module({})
export class WorkerModule {
  static forRoot(config: AppConfig, masterKey: Buffer): DynamicModule {
    return {
      module: WorkerModule,
      imports: [
        CoreModule.forRoot(config, masterKey),
        BullModule.forRoot({ connection: { url: config.REDIS_URL, maxRetriesPerRequest: null }, prefix: config.JCS_QUEUE_PREFIX }),
        BullModule.registerQueue({ name: GC_QUEUE }),
        ObjectsModule,
      ],
      providers: [GcProcessor, GcSchedule],
    };
  }
}
