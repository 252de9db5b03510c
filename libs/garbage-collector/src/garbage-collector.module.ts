import { Module } from '@nestjs/common';
import { UserSpacesModule } from '#user-spaces';
import { GarbageCollector } from './garbage-collector.js';

/** The shard collector, next to the shard store it sweeps; run by the worker (and by tests directly). */
@Module({ imports: [UserSpacesModule], providers: [GarbageCollector], exports: [GarbageCollector] })
export class GarbageCollectorModule {}
