import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { ArrayMaxSize, IsArray, IsInt, Max, Min, ValidateNested } from 'class-validator';
import { IdField, QueryBoolField, QueryIdField, QueryIntField, StringField } from '../common/fields.js';

const MAX_BATCH = 1000;

export class DownloadQuery {
  @QueryIdField('object to download')
  objectID!: number;

  @QueryIntField('first byte (default 0)')
  offset?: number;

  @QueryIntField('number of bytes (default: to the end)')
  length?: number;
}

export class ObjectBlocksQuery {
  @QueryIdField('object whose block map to show')
  objectID!: number;
}

export class DownloadByPathQuery {
  @QueryIdField('package holding the object')
  packageID!: number;

  @StringField('object path')
  path!: string;

  @QueryIntField('first byte (default 0)')
  offset?: number;

  @QueryIntField('number of bytes (default: to the end)')
  length?: number;
}

export class ListByPathQuery {
  @QueryIdField('package to list')
  packageID!: number;

  @StringField('exact path, or the prefix when isPrefix=true', { optional: true })
  path?: string;

  @QueryBoolField('treat path as a plain string prefix')
  isPrefix?: boolean;

  @QueryBoolField('delimiter `/` listing: common prefixes plus direct children')
  noRecursive?: boolean;

  @QueryIntField('objects plus common prefixes per page (1–1000, default 1000)', 1)
  maxKeys?: number;

  @StringField('nextContinuationToken of the previous page', { optional: true })
  continuationToken?: string;
}

export class PackageObjectsQuery {
  @QueryIdField('package whose objects to list')
  packageID!: number;
}

export class Moving {
  @IdField('object to move')
  objectID!: number;

  @IdField('target package')
  packageID!: number;

  @StringField('target path')
  path!: string;
}

export class MoveBody {
  @ApiProperty({ type: [Moving] })
  @IsArray()
  @ArrayMaxSize(MAX_BATCH)
  @ValidateNested({ each: true })
  @Type(() => Moving)
  movings!: Moving[];
}

export class DeleteObjectsBody {
  @ApiProperty({ type: 'array', items: { type: 'integer', format: 'int64' } })
  @IsArray()
  @ArrayMaxSize(MAX_BATCH)
  @IsInt({ each: true, message: 'objectIDs must hold integers' })
  @Min(1, { each: true, message: 'objectIDs must hold positive integers' })
  @Max(Number.MAX_SAFE_INTEGER, { each: true })
  objectIDs!: number[];
}

export class Cloning {
  @IdField('source object')
  objectID!: number;

  @StringField('path of the clone')
  newPath!: string;

  @IdField('package of the clone')
  newPackageID!: number;
}

export class CloneBody {
  @ApiProperty({ type: [Cloning] })
  @IsArray()
  @ArrayMaxSize(MAX_BATCH)
  @ValidateNested({ each: true })
  @Type(() => Cloning)
  clonings!: Cloning[];
}

export class NewMultipartBody {
  @IdField('package of the object')
  packageID!: number;

  @StringField('object path')
  path!: string;
}

export class CompleteMultipartBody {
  @IdField('the multipart upload object')
  objectID!: number;

  @ApiProperty({ type: 'array', items: { type: 'integer' }, description: 'part indexes in the order to join (may repeat)' })
  @IsArray()
  @IsInt({ each: true, message: 'indexes must hold integers' })
  @Min(0, { each: true, message: 'indexes must hold non-negative integers' })
  indexes!: number[];
}

export class UploadFormDoc {
  @ApiProperty({
    type: 'string',
    description:
      'JSON {"packageID": N, "affinity"?: userSpaceID, "redundancy"?: policy (ours; overrides the package\'s for these files)}; must be the first part',
  })
  info!: string;

  @ApiPropertyOptional({ type: 'array', items: { type: 'string', format: 'binary' }, description: 'files; each filename is the URL-encoded object path' })
  files?: unknown[];
}

export class UploadPartFormDoc {
  @ApiProperty({ type: 'string', description: 'JSON {"objectID": N, "index": I}; must be the first part' })
  info!: string;

  @ApiProperty({ type: 'string', format: 'binary' })
  file!: unknown;
}
