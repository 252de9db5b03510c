import { Body, Controller, Get, HttpCode, Post, Query } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { PackagesService } from '#packages';
import { TenantId } from '../auth/tenant.js';
import { CreatePackageBody, DeletePackageBody, GetPackageByFullNameQuery, ListBucketPackagesQuery } from './packages.dto.js';

@ApiTags('package')
@Controller('v1/package')
export class PackagesController {
  constructor(private readonly packages: PackagesService) {}

  @Post('create')
  @HttpCode(200)
  @ApiOperation({ summary: 'Create a package in a bucket (duplicate name → DataExists)' })
  async create(@TenantId() userId: number, @Body() body: CreatePackageBody) {
    return { package: await this.packages.create(userId, body.bucketID, body.name) };
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
