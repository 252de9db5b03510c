import { applyDecorators } from '@nestjs/common';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsBoolean, IsInt, IsOptional, IsString, Max, Min } from 'class-validator';

/**
 * Field decorators shared by the request DTOs: each states the wire type once, for validation and for
 * the OpenAPI document alike. Body fields are strictly typed (a string where a number belongs is
 * BadArgument); query fields arrive as strings and are converted first.
 */
export const IdField = (description: string) =>
  applyDecorators(
    ApiProperty({ type: 'integer', format: 'int64', description }),
    IsInt({ message: '$property must be an integer' }),
    Min(1, { message: '$property must be a positive integer' }),
    Max(Number.MAX_SAFE_INTEGER, { message: '$property is too large' }),
  );

const toNumber = ({ value }: { value: unknown }) =>
  typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value === undefined ? undefined : NaN;

export const QueryIdField = (description: string) => applyDecorators(Transform(toNumber), IdField(description));

export const QueryIntField = (description: string, min = 0, max = Number.MAX_SAFE_INTEGER) =>
  applyDecorators(
    ApiPropertyOptional({ type: 'integer', format: 'int64', description }),
    IsOptional(),
    Transform(toNumber),
    IsInt({ message: '$property must be an integer' }),
    Min(min, { message: `$property must be at least ${min}` }),
    Max(max, { message: `$property must be at most ${max}` }),
  );

export const QueryBoolField = (description: string) =>
  applyDecorators(
    ApiPropertyOptional({ type: 'boolean', description }),
    IsOptional(),
    Transform(({ value }) => (value === 'true' ? true : value === 'false' ? false : value)),
    IsBoolean({ message: '$property must be true or false' }),
  );

export const StringField = (description: string, opts: { optional?: boolean } = {}) =>
  applyDecorators(
    opts.optional ? ApiPropertyOptional({ type: 'string', description }) : ApiProperty({ type: 'string', description }),
    ...(opts.optional ? [IsOptional()] : []),
    IsString({ message: '$property must be a string' }),
  );
