import { Module, type DynamicModule } from '@nestjs/common';
import type { AppConfig } from '../../../libs/config/src/index.js';
import { CoreModule } from '../../../libs/core/src/index.js';

/** The BullMQ side: background jobs (garbage collection, sync runs) and their schedules. */
@Module({})
export class WorkerModule {
  static forRoot(config: AppConfig, masterKey: Buffer): DynamicModule {
    return {
      module: WorkerModule,
      imports: [CoreModule.forRoot(config, masterKey)],
    };
  }
}
