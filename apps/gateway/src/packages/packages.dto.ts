import { ApiPropertyOptional } from '@nestjs/swagger';
import { Allow } from 'class-validator';
import { IdField, QueryIdField, StringField } from '../common/fields.js';

const POLICY_DOC =
  'redundancy policy (ours): {"type":"none"} | {"type":"rep","repCount":N} | {"type":"ec","k":K,"n":N,"chunkSize":BYTES} | ' +
  '{"type":"auto","threshold":BYTES,"small":<policy>,"large":<policy>}; null or absent = JCS_DEFAULT_REDUNDANCY';
const PolicyField = () => (target: object, key: string) => {
  ApiPropertyOptional({ type: 'object', additionalProperties: true, nullable: true, description: POLICY_DOC })(target, key);
  Allow()(target, key); // checked by #redundancy's parsePolicy (BadArgument)
};

export class CreatePackageBody {
  @IdField('bucket to create the package in')
  bucketID!: number;

  @StringField('package name: 1–255 bytes, no `/`, no control characters, not `.` or `..`')
  name!: string;

  @PolicyField()
  redundancy?: unknown;
}

export class SetRedundancyBody {
  @IdField('package whose policy to set')
  packageID!: number;

  @PolicyField()
  redundancy?: unknown;
}

export class RedundancyStatusQuery {
  @QueryIdField('package to report on')
  packageID!: number;
}

export class GetPackageByFullNameQuery {
  @StringField('bucket name')
  bucketName!: string;

  @StringField('package name')
  packageName!: string;
}

export class ListBucketPackagesQuery {
  @QueryIdField('bucket whose packages to list')
  bucketID!: number;
}

export class DeletePackageBody {
  @IdField('package to delete')
  packageID!: number;
}
