import { Module } from '@nestjs/common';
import { InstanceHeartbeat, ShardRegistry } from '#shard-store';
import { PackagesModule } from '#packages';
import { RedundancyJobs } from '#redundancy';
import { UserSpacesModule } from '#user-spaces';
import { ObjectListing } from './listing.js';
import { MultipartService } from './multipart.service.js';
import { ObjectReader } from './object-reader.js';
import { ObjectsService } from './objects.service.js';
import { S3Objects } from './s3-objects.js';
import { S3UploadsService } from './s3-uploads.service.js';

const providers = [ShardRegistry, InstanceHeartbeat, ObjectsService, ObjectReader, ObjectListing, MultipartService, S3Objects, S3UploadsService];

@Module({ imports: [UserSpacesModule, PackagesModule], providers: [...providers, RedundancyJobs], exports: providers })
export class ObjectsModule {}
