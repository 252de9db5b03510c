import { Body, Controller, Get, HttpCode, Post, Query, Req, Res } from '@nestjs/common';
import { ApiBody, ApiConsumes, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { DomainError } from '#common';
import { MultipartService, ObjectListing, ObjectReader, ObjectsService, RedundancyReport, type ObjectForRead } from '#objects';
import { TenantCtx, TenantId, type AuthedRequest, type TenantContext } from '../auth/tenant.js';
import {
  CloneBody,
  CompleteMultipartBody,
  DeleteObjectsBody,
  DownloadByPathQuery,
  DownloadQuery,
  ListByPathQuery,
  MoveBody,
  ObjectBlocksQuery,
  NewMultipartBody,
  PackageObjectsQuery,
  UploadFormDoc,
  UploadPartFormDoc,
} from './objects.dto.js';
import { requestedSpan, sendObject } from './send-object.js';

const upload = (req: AuthedRequest, t: TenantContext) => ({ request: req, pendingPayloadSha256: t.pendingPayloadSha256 });

@ApiTags('object')
@Controller('v1/object')
export class ObjectsController {
  constructor(
    private readonly objects: ObjectsService,
    private readonly multipart: MultipartService,
    private readonly reader: ObjectReader,
    private readonly listing: ObjectListing,
    private readonly report: RedundancyReport,
  ) {}

  @Get('blocks')
  @ApiOperation({ summary: 'Ours: the block map of an object (block states, tolerated space losses)' })
  async blocks(@TenantId() userId: number, @Query() q: ObjectBlocksQuery) {
    return await this.report.objectBlocks(userId, q.objectID);
  }

  @Post('upload')
  @HttpCode(200)
  @ApiConsumes('multipart/form-data')
  @ApiBody({ type: UploadFormDoc })
  @ApiOperation({ summary: 'Upload files into a package (atomic batch; existing paths overwritten in place)' })
  async upload(@TenantCtx() t: TenantContext, @Req() req: AuthedRequest) {
    return { uploadeds: await this.objects.upload(t.userId, upload(req, t)) };
  }

  @Get('download')
  @ApiProduces('application/octet-stream')
  @ApiOperation({ summary: 'Download an object (offset/length or a Range header)' })
  async download(@TenantId() userId: number, @Query() q: DownloadQuery, @Req() req: AuthedRequest, @Res() res: Response) {
    await this.send(await this.objects.getForRead(userId, q.objectID), q.offset, q.length, req, res);
  }

  @Get('downloadByPath')
  @ApiProduces('application/octet-stream')
  @ApiOperation({ summary: 'Download an object by package and path' })
  async downloadByPath(@TenantId() userId: number, @Query() q: DownloadByPathQuery, @Req() req: AuthedRequest, @Res() res: Response) {
    await this.send(await this.objects.getByPathForRead(userId, q.packageID, q.path), q.offset, q.length, req, res);
  }

  @Get('listByPath')
  @ApiOperation({ summary: 'List objects by exact path, prefix, or delimiter, with continuation tokens' })
  async listByPath(@TenantId() userId: number, @Query() q: ListByPathQuery) {
    return this.listing.list(userId, {
      packageId: q.packageID,
      path: q.path ?? '',
      isPrefix: q.isPrefix ?? false,
      noRecursive: q.noRecursive ?? false,
      maxKeys: Math.min(q.maxKeys ?? 1000, 1000),
      continuationToken: q.continuationToken || undefined,
    });
  }

  @Get('getPackageObjects')
  @ApiOperation({ summary: 'All objects of a package, in path order' })
  async getPackageObjects(@TenantId() userId: number, @Query() q: PackageObjectsQuery) {
    return { objects: await this.objects.getPackageObjects(userId, q.packageID) };
  }

  @Post('move')
  @HttpCode(200)
  @ApiOperation({ summary: 'Move objects (occupied target paths and foreign packages are skipped)' })
  async move(@TenantId() userId: number, @Body() body: MoveBody) {
    return { successes: await this.objects.move(userId, body.movings) };
  }

  @Post('delete')
  @HttpCode(200)
  @ApiOperation({ summary: 'Delete objects (missing IDs are not an error)' })
  async delete(@TenantId() userId: number, @Body() body: DeleteObjectsBody) {
    await this.objects.delete(userId, body.objectIDs);
    return null;
  }

  @Post('clone')
  @HttpCode(200)
  @ApiOperation({ summary: 'Clone objects sharing their stored shards (null where skipped)' })
  async clone(@TenantId() userId: number, @Body() body: CloneBody) {
    return { objects: await this.objects.clone(userId, body.clonings) };
  }

  @Post('newMultipartUpload')
  @HttpCode(200)
  @ApiOperation({ summary: 'Open a multipart upload' })
  async newMultipartUpload(@TenantId() userId: number, @Body() body: NewMultipartBody) {
    return { object: await this.multipart.create(userId, body.packageID, body.path) };
  }

  @Post('uploadPart')
  @HttpCode(200)
  @ApiConsumes('multipart/form-data')
  @ApiBody({ type: UploadPartFormDoc })
  @ApiOperation({ summary: 'Upload (or replace) one part of a multipart upload' })
  async uploadPart(@TenantCtx() t: TenantContext, @Req() req: AuthedRequest) {
    await this.multipart.uploadPart(t.userId, upload(req, t));
    return null;
  }

  @Post('completeMultipartUpload')
  @HttpCode(200)
  @ApiOperation({ summary: 'Join the listed parts in order into the object (no bytes copied)' })
  async completeMultipartUpload(@TenantId() userId: number, @Body() body: CompleteMultipartBody, @Res({ passthrough: true }) res: Response) {
    // The response's 'close' before it was sent means the client went away (the request's own 'close'
    // already fires once its body has been read). The hashing then stops and nothing is committed.
    const gone = new AbortController();
    const onClose = () => {
      if (!res.writableFinished) gone.abort();
    };
    res.once('close', onClose);
    try {
      return { object: await this.multipart.complete(userId, body.objectID, body.indexes, gone.signal) };
    } finally {
      res.off('close', onClose);
    }
  }

  /** `found` is the object, its blocks and their spaces read in one statement: headers and bytes of one version. */
  private async send(
    { object, blocks, spaces }: ObjectForRead,
    offset: number | undefined,
    length: number | undefined,
    req: AuthedRequest,
    res: Response,
  ) {
    try {
      const { span, partial } = requestedSpan(req, object.size, offset, length);
      const read = await this.reader.prepare(object, blocks, span, spaces);
      await sendObject(res, read, partial);
    } catch (e) {
      if (e instanceof DomainError && e.status === 416) res.setHeader('Content-Range', `bytes */${object.size}`);
      throw e;
    }
  }
}
