import { Module } from '@nestjs/common';
import { InstanceHeartbeat, ShardRegistry } from '#shard-store';
import { PackagesModule } from '#packages';
import { UserSpacesModule } from '#user-spaces';
import { ObjectListing } from './listing.js';
import { MultipartService } from './multipart.service.js';
import { ObjectReader } from './object-reader.js';
import { ObjectsService } from './objects.service.js';
import { S3Objects } from './s3-objects.js';

const providers = [ShardRegistry, InstanceHeartbeat, ObjectsService, ObjectReader, ObjectListing, MultipartService, S3Objects];

@Module({ imports: [UserSpacesModule, PackagesModule], providers, exports: providers })
export class ObjectsModule {}
