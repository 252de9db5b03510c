import { Body, Controller, Get, HttpCode, Post, Query, Res } from '@nestjs/common';
import type { Response } from 'express';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { badArgument } from '#common';
import { PackageTransferService } from '#package-transfer';
import { UserSpacesService } from '#user-spaces';
import { TenantId } from '../auth/tenant.js';
import {
  CreatePackageFromSpaceBody,
  CreateUserSpaceBody,
  DownloadPackageToSpaceBody,
  TestUserSpaceBody,
  UpdateUserSpaceBody,
  UserSpaceIdBody,
  UserSpaceIdQuery,
} from './user-spaces.dto.js';

@ApiTags('userSpace')
@Controller('v1/userSpace')
export class UserSpacesController {
  constructor(
    private readonly userSpaces: UserSpacesService,
    private readonly transfer: PackageTransferService,
  ) {}

  @Post('create')
  @HttpCode(200)
  @ApiOperation({ summary: 'Create a user space (Local folder, S3 or OBS bucket)' })
  async create(@TenantId() userId: number, @Body() body: CreateUserSpaceBody) {
    return { userSpace: await this.userSpaces.create(userId, body as unknown as Record<string, unknown>) };
  }

  @Post('update')
  @HttpCode(200)
  @ApiOperation({ summary: 'Rename a user space or replace its credential (bumps revision)' })
  async update(@TenantId() userId: number, @Body() body: UpdateUserSpaceBody) {
    return { userSpace: await this.userSpaces.update(userId, body.userSpaceID, body as unknown as Record<string, unknown>) };
  }

  @Post('delete')
  @HttpCode(200)
  @ApiOperation({ summary: 'Delete a user space (refused while objects keep pieces there)' })
  async delete(@TenantId() userId: number, @Body() body: UserSpaceIdBody) {
    await this.userSpaces.delete(userId, body.userSpaceID);
    return null;
  }

  @Get('get')
  @ApiOperation({ summary: 'Get a user space (the secret comes back as "")' })
  async get(@TenantId() userId: number, @Query() q: UserSpaceIdQuery) {
    return { userSpace: this.userSpaces.view(await this.userSpaces.get(userId, q.userSpaceID)) };
  }

  @Post('test')
  @HttpCode(200)
  @ApiOperation({ summary: 'Check that the gateway can write, read back and delete a probe in a storage' })
  async test(@TenantId() userId: number, @Body() body: TestUserSpaceBody) {
    await this.userSpaces.test(userId, body as unknown as Record<string, unknown>);
    return null;
  }

  @Post('createPackage')
  @HttpCode(200)
  @ApiOperation({ summary: 'Import a file or folder of the space into a new package' })
  async createPackage(@TenantId() userId: number, @Body() body: CreatePackageFromSpaceBody, @Res({ passthrough: true }) res: Response) {
    const affinity = body.spaceAffinity;
    if (affinity !== undefined && affinity !== null && (typeof affinity !== 'number' || !Number.isSafeInteger(affinity)))
      throw badArgument('spaceAffinity must be an integer');
    return {
      package: await this.transfer.createPackage(userId, {
        userSpaceId: body.userSpaceID,
        path: body.path,
        bucketId: body.bucketID,
        name: body.name,
        spaceAffinity: affinity || undefined,
      }, whileConnected(res)),
    };
  }

  @Post('downloadPackage')
  @HttpCode(200)
  @ApiOperation({ summary: 'Write every object of a package as a file under rootPath in the space' })
  async downloadPackage(@TenantId() userId: number, @Body() body: DownloadPackageToSpaceBody, @Res({ passthrough: true }) res: Response) {
    await this.transfer.downloadPackage(
      userId,
      { userSpaceId: body.userSpaceID, packageId: body.packageID, rootPath: body.rootPath },
      whileConnected(res),
    );
    return null;
  }
}

/**
 * Aborted when the connection closes before the response has been sent (the client went away): the
 * long transfers stop instead of working on for nobody. (`res`, not `req`: a request's `close` also
 * fires once its body has been read.)
 */
function whileConnected(res: Response): AbortSignal {
  const ac = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) ac.abort();
  });
  return ac.signal;
}
