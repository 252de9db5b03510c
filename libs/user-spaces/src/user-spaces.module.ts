import { Module } from '@nestjs/common';
import { SpaceDrivers } from './space-drivers.js';
import { SpacesService } from './spaces.service.js';
import { UserSpacesService } from './user-spaces.service.js';

const providers = [SpaceDrivers, SpacesService, UserSpacesService];

@Module({ providers, exports: providers })
export class UserSpacesModule {}
