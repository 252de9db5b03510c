import { InitialSchema1763700000000 } from './1763700000000-initial-schema.js';
import { GcMarks1764600000000 } from './1764600000000-gc-marks.js';
import { UserSpaceHostRoot1764700000000 } from './1764700000000-user-space-host-root.js';
import { CommitObjectsFunction1764800000000 } from './1764800000000-commit-objects-function.js';
import { AccessKeyNotify1764810000000 } from './1764810000000-access-key-notify.js';
import { SpaceSyncer1764820000000 } from './1764820000000-space-syncer.js';
import { Redundancy1764830000000 } from './1764830000000-redundancy.js';
import { S3ObjectMetadata1764840000000 } from './1764840000000-s3-object-metadata.js';
import { S3Uploads1764841000000 } from './1764841000000-s3-uploads.js';

/** Every migration, in order. Listed explicitly so the compiled ESM build needs no glob loading. */
export const MIGRATIONS = [
  InitialSchema1763700000000,
  GcMarks1764600000000,
  UserSpaceHostRoot1764700000000,
  CommitObjectsFunction1764800000000,
  AccessKeyNotify1764810000000,
  SpaceSyncer1764820000000,
  Redundancy1764830000000,
  S3ObjectMetadata1764840000000,
  S3Uploads1764841000000,
];
