import { Module } from '@nestjs/common';
import { UserSpacesModule } from '#user-spaces';
import { SpaceSyncerService } from './space-syncer.service.js';
import { SyncContexts } from './sync-context.js';
import { SyncRunner } from './sync-runner.js';
import { SyncSchedules } from './sync-schedules.js';

const providers = [SyncContexts, SyncSchedules, SyncRunner, SpaceSyncerService];

/** The space syncer (spec §7): the gateway uses the service and schedules, the worker the runner. */
@Module({ imports: [UserSpacesModule], providers, exports: providers })
export class SpaceSyncerModule {}
