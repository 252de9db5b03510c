import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsObject, IsOptional } from 'class-validator';
import { IdField, QueryIdField, StringField } from '../common/fields.js';

/**
 * storage / credential / shardStore / features are tagged unions checked by the domain
 * (`libs/user-spaces/src/space-spec.ts`); here they only need to be JSON values.
 */
const STORAGE_DOC =
  '{"type":"Local","rootDir"?} | {"type":"S3","region","endpoint","bucket","forcePathStyle"?} | {"type":"OBS","region","endpoint","bucket","projectID"}';
const CREDENTIAL_DOC = '{"type":"Local"} | {"type":"S3"|"OBS","accessKeyId","secretAccessKey"}';

/** Where a space lives and how to reach it: shared by `create` and `test`. */
class StorageAccessBody {
  @ApiProperty({ type: 'object', additionalProperties: true, description: STORAGE_DOC })
  @IsObject()
  storage!: Record<string, unknown>;

  @ApiProperty({ type: 'object', additionalProperties: true, description: CREDENTIAL_DOC })
  @IsObject()
  credential!: Record<string, unknown>;
}

export class CreateUserSpaceBody extends StorageAccessBody {
  @StringField('display name')
  name!: string;

  @ApiPropertyOptional({ type: 'object', additionalProperties: true, nullable: true, description: 'null, or {"maxSize": BYTES}' })
  @IsOptional()
  shardStore?: unknown;

  @ApiPropertyOptional({ type: 'array', items: { type: 'object', additionalProperties: true }, description: 'e.g. [{"type":"MultipartUpload","minPartSize","maxPartSize"}]' })
  @IsOptional()
  features?: unknown;

  @StringField("the gateway's folder inside the storage (shards live in <workingDir>/shards/)", { optional: true })
  workingDir?: string;
}

export class UpdateUserSpaceBody {
  @IdField('user space to update')
  userSpaceID!: number;

  @StringField('new name', { optional: true })
  name?: string;

  @ApiPropertyOptional({ type: 'object', additionalProperties: true, description: CREDENTIAL_DOC })
  @IsOptional()
  @IsObject()
  credential?: Record<string, unknown>;
}

export class UserSpaceIdBody {
  @IdField('user space')
  userSpaceID!: number;
}

export class UserSpaceIdQuery {
  @QueryIdField('user space')
  userSpaceID!: number;
}

export class TestUserSpaceBody extends StorageAccessBody {
  @StringField('folder to probe in', { optional: true })
  workingDir?: string;
}

export class CreatePackageFromSpaceBody {
  @IdField('user space to import from')
  userSpaceID!: number;

  @StringField('file or folder to import, relative to the storage root')
  path!: string;

  @IdField('bucket of the new package')
  bucketID!: number;

  @StringField('name of the new package')
  name!: string;

  @ApiPropertyOptional({ type: 'integer', description: 'user space to store the shards in (default: the default space)' })
  @IsOptional()
  spaceAffinity?: number;
}

export class DownloadPackageToSpaceBody {
  @IdField('user space to write into')
  userSpaceID!: number;

  @IdField('package to write out')
  packageID!: number;

  @StringField('folder to write the objects under, relative to the storage root')
  rootPath!: string;
}
