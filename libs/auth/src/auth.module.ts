import { Module } from '@nestjs/common';
import { AccessKeyCache } from './access-key-cache.js';
import { TenantsService } from './tenants.service.js';

@Module({ providers: [TenantsService, AccessKeyCache], exports: [TenantsService] })
export class AuthModule {}
