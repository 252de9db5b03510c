import { Body, Controller, Get, HttpCode, Post, Query } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { BucketsService } from '#buckets';
import { TenantId } from '../auth/tenant.js';
import { CreateBucketBody, DeleteBucketBody, GetBucketByNameQuery } from './buckets.dto.js';

@ApiTags('bucket')
@Controller('v1/bucket')
export class BucketsController {
  constructor(private readonly buckets: BucketsService) {}

  @Post('create')
  @HttpCode(200)
  @ApiOperation({ summary: 'Create a bucket (same name twice → DataExists)' })
  async create(@TenantId() userId: number, @Body() body: CreateBucketBody) {
    return { bucket: await this.buckets.create(userId, body.name) };
  }

  @Get('getByName')
  @ApiOperation({ summary: "Get one of the caller's buckets by name" })
  async getByName(@TenantId() userId: number, @Query() q: GetBucketByNameQuery) {
    return { bucket: await this.buckets.getByName(userId, q.name) };
  }

  @Get('listAll')
  @ApiOperation({ summary: "List the caller's buckets" })
  async listAll(@TenantId() userId: number) {
    return { buckets: await this.buckets.listAll(userId) };
  }

  @Post('delete')
  @HttpCode(200)
  @ApiOperation({ summary: 'Delete a bucket with its packages and objects' })
  async delete(@TenantId() userId: number, @Body() body: DeleteBucketBody) {
    await this.buckets.delete(userId, body.bucketID);
    return null;
  }
}
