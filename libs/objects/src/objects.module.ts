import { Module } from '@nestjs/common';
import { InstanceHeartbeat, ShardRegistry } from '#shard-store';
import { PackagesModule } from '#packages';
import { UserSpacesModule } from '#user-spaces';
import { BlockMaintenance } from './block-maintenance.js';
import { ObjectListing } from './listing.js';
import { MultipartService } from './multipart.service.js';
import { ObjectReader } from './object-reader.js';
import { ObjectsService } from './objects.service.js';
import { BlockWriter } from './block-writer.js';
import { RedundancyReport } from './redundancy-report.js';
import { ObjectConverter } from './object-converter.js';
import { S3Objects } from './s3-objects.js';
import { S3UploadsService } from './s3-uploads.service.js';

const providers = [
  ShardRegistry,
  InstanceHeartbeat,
  ObjectsService,
  ObjectReader,
  ObjectListing,
  MultipartService,
  BlockWriter,
  BlockMaintenance,
  RedundancyReport,
  ObjectConverter,
  S3Objects,
  S3UploadsService,
];

@Module({ imports: [UserSpacesModule, PackagesModule], providers, exports: providers })
export class ObjectsModule {}
