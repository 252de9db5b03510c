import { Module } from '@nestjs/common';
import { SpaceDrivers } from './space-drivers.js';
import { SpacesService } from './spaces.service.js';

@Module({ providers: [SpaceDrivers, SpacesService], exports: [SpaceDrivers, SpacesService] })
export class UserSpacesModule {}
