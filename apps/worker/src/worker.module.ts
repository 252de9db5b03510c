import { BullModule } from '@nestjs/bullmq';
import { Module, type DynamicModule } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import type { AppConfig } from '#config';
import { CoreModule } from '#core';
import { ObjectsModule } from '#objects';
import { GarbageCollectorModule } from '#garbage-collector';
import { SpaceSyncerModule } from '#space-syncer';
import { GC_QUEUE, GcProcessor, GcSchedule } from './gc/gc.processor.js';
import { SyncWorker } from './sync/sync.worker.js';
import { CONVERT_QUEUE, REPAIR_QUEUE, SCRUB_QUEUE } from '#redundancy';
import { ConvertProcessor, ConvertSchedule } from './redundancy/convert.processor.js';
import { RepairProcessor, ScrubProcessor, ScrubSchedule } from './redundancy/redundancy.processors.js';

/** The BullMQ side: background jobs (garbage collection, sync runs) and their schedules. */
@Module({})
export class WorkerModule {
  static forRoot(config: AppConfig, masterKey: Buffer): DynamicModule {
    return {
      module: WorkerModule,
      imports: [
        // The same structured JSON logs as the gateway (pino), tagged so the two can be told apart.
        LoggerModule.forRoot({ pinoHttp: { level: config.LOG_LEVEL, base: { process: 'worker' } } }),
        CoreModule.forRoot(config, masterKey),
        BullModule.forRoot({ connection: { url: config.REDIS_URL, maxRetriesPerRequest: null }, prefix: config.JCS_QUEUE_PREFIX }),
        BullModule.registerQueue({ name: GC_QUEUE }, { name: REPAIR_QUEUE }, { name: SCRUB_QUEUE }, { name: CONVERT_QUEUE }),
        ObjectsModule,
        GarbageCollectorModule,
        SpaceSyncerModule,
      ],
      providers: [GcProcessor, GcSchedule, SyncWorker, RepairProcessor, ScrubProcessor, ScrubSchedule, ConvertProcessor, ConvertSchedule],
    };
  }
}
