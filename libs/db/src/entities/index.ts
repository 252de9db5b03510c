export * from './transformers.js';
export * from './user.entity.js';
export * from './access-key.entity.js';
export * from './bucket.entity.js';
export * from './package.entity.js';
export * from './object.entity.js';
export * from './object-block.entity.js';
export * from './multipart-part.entity.js';
export * from './shard.entity.js';
export * from './user-space.entity.js';

import { AccessKeyEntity } from './access-key.entity.js';
import { BucketEntity } from './bucket.entity.js';
import { MultipartPartEntity } from './multipart-part.entity.js';
import { ObjectBlockEntity } from './object-block.entity.js';
import { ObjectEntity } from './object.entity.js';
import { PackageEntity } from './package.entity.js';
import { ShardEntity } from './shard.entity.js';
import { UserSpaceEntity } from './user-space.entity.js';
import { UserEntity } from './user.entity.js';

export const ENTITIES = [
  UserEntity,
  AccessKeyEntity,
  BucketEntity,
  PackageEntity,
  ObjectEntity,
  ObjectBlockEntity,
  MultipartPartEntity,
  ShardEntity,
  UserSpaceEntity,
];
