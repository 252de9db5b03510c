import { IdField, QueryIdField, StringField } from '../common/fields.js';

export class CreatePackageBody {
  @IdField('bucket to create the package in')
  bucketID!: number;

  @StringField('package name: 1–255 bytes, no `/`, no control characters, not `.` or `..`')
  name!: string;
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
