import { Module } from '@nestjs/common';
import { RedundancyJobs } from '#redundancy';
import { PackagesService } from './packages.service.js';

@Module({ providers: [PackagesService, RedundancyJobs], exports: [PackagesService, RedundancyJobs] })
export class PackagesModule {}
