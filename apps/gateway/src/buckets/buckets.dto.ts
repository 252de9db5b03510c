import { ApiPropertyOptional } from '@nestjs/swagger';
import { IdField, StringField } from '../common/fields.js';
import { IsInt, IsOptional } from 'class-validator';

export class CreateBucketBody {
  @ApiPropertyOptional({ type: 'integer', description: "the caller's own userID (optional)" })
  @IsOptional()
  @IsInt()
  userID?: number;

  @StringField('bucket name: 1–255 bytes, no `/`, no control characters, not `.` or `..`')
  name!: string;
}

export class GetBucketByNameQuery {
  @StringField('bucket name')
  name!: string;
}

export class DeleteBucketBody {
  @IdField('bucket to delete')
  bucketID!: number;
}

