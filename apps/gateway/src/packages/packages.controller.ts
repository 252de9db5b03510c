import { Body, Controller, Get, HttpCode, Post, Query } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { RedundancyReport } from '#objects';
import { PackagesService } from '#packages';
import { TenantId } from '../auth/tenant.js';
import {
  CreatePackageBody,
  DeletePackageBody,
  GetPackageByFullNameQuery,
  ListBucketPackagesQuery,
  RedundancyStatusQuery,
  SetRedundancyBody,
} from './packages.dto.js';

@ApiTags('package')
@Controller('v1/package')
export class PackagesController {
  constructor(
    private readonly packages: PackagesService,
    private readonly report: RedundancyReport,
  ) {}

  @Post('create')
  @HttpCode(200)
  @ApiOperation({ summary: 'Create a package in a bucket (duplicate name → DataExists)' })
  async create(@TenantId() userId: number, @Body() body: CreatePackageBody) {
    return { package: await this.packages.create(userId, body.bucketID, body.name, undefined, body.redundancy) };
  }

  @Post('setRedundancy')
  @HttpCode(200)
  @ApiOperation({ summary: "Ours: set (null: clear) a package's redundancy policy; its objects are converted in the background" })
  async setRedundancy(@TenantId() userId: number, @Body() body: SetRedundancyBody) {
    return { package: await this.packages.setRedundancy(userId, body.packageID, body.redundancy) };
  }

  @Get('redundancyStatus')
  @ApiOperation({ summary: "Ours: counts of a package's objects conforming to its policy, pending conversion, degraded, failed" })
  async redundancyStatus(@TenantId() userId: number, @Query() q: RedundancyStatusQuery) {
    return await this.report.packageStatus(userId, q.packageID);
  }

  @Get('getByFullName')
  @ApiOperation({ summary: 'Get a package by bucket name and package name' })
  async getByFullName(@TenantId() userId: number, @Query() q: GetPackageByFullNameQuery) {
    return { package: await this.packages.getByFullName(userId, q.bucketName, q.packageName) };
  }

  @Get('listBucketPackages')
  @ApiOperation({ summary: 'List the packages of a bucket' })
  async listBucketPackages(@TenantId() userId: number, @Query() q: ListBucketPackagesQuery) {
    return { packages: await this.packages.listBucketPackages(userId, q.bucketID) };
  }

  @Post('delete')
  @HttpCode(200)
  @ApiOperation({ summary: 'Delete a package with its objects' })
  async delete(@TenantId() userId: number, @Body() body: DeletePackageBody) {
    await this.packages.delete(userId, body.packageID);
    return null;
  }
}
