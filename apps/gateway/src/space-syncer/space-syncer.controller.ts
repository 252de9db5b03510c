import { Body, Controller, Get, HttpCode, Post, Query } from '@nestjs/common';
import { ApiBody, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { SpaceSyncerService } from '#space-syncer';
import { TenantId } from '../auth/tenant.js';

const TASK_BODY = {
  schema: {
    type: 'object',
    description:
      '{"trigger":{"type":"Once"}|{"type":"Interval","interval":SECONDS}|{"type":"At","at":[RFC3339]},' +
      '"mode":{"type":"Full"}|{"type":"Diff","includeSize","includeModTime"},"filters":[{"type":"Size","minSize","maxSize"}|' +
      '{"type":"Extension","extensions"}|{"type":"Path","include","exclude"}],"options":{"noEmptyDirectories","concurrency",' +
      '"deleteSource","deleteExtraneous","maxDelete","window":{"start","end","timeZone"},"bandwidthLimit"},' +
      '"srcUserSpaceID","srcPath","destUserSpaceIDs":[...],"destPathes":[...]}',
    additionalProperties: true,
  },
};

/**
 * Spec §7 (createTask, getTask, cancelTask) and ours (listTasks, getTaskRuns, planTask). The task body
 * is a tagged union checked by the domain (`libs/space-syncer/src/task-spec.ts`), so it reaches the
 * service as plain JSON; every other check is there too.
 */
@ApiTags('spaceSyncer')
@Controller('v1/spaceSyncer')
export class SpaceSyncerController {
  constructor(private readonly syncer: SpaceSyncerService) {}

  @Post('createTask')
  @HttpCode(200)
  @ApiOperation({ summary: 'Create a sync task between user spaces; its trigger is scheduled on the worker' })
  @ApiBody(TASK_BODY)
  async createTask(@TenantId() userId: number, @Body() body: Record<string, unknown>) {
    return { task: await this.syncer.create(userId, body) };
  }

  @Get('getTask')
  @ApiOperation({ summary: 'A task with its state, next run time and last run (progress while it runs)' })
  @ApiQuery({ name: 'taskID', type: 'integer' })
  async getTask(@TenantId() userId: number, @Query('taskID') taskID: unknown) {
    return { task: await this.syncer.get(userId, taskID) };
  }

  @Post('cancelTask')
  @HttpCode(200)
  @ApiOperation({ summary: 'Cancel a task: no further run, a running one stops within seconds' })
  @ApiBody({ schema: { type: 'object', properties: { taskID: { type: 'integer' } } } })
  async cancelTask(@TenantId() userId: number, @Body() body: Record<string, unknown>) {
    await this.syncer.cancel(userId, body?.taskID);
    return null;
  }

  @Get('listTasks')
  @ApiOperation({ summary: "Ours: the caller's tasks" })
  async listTasks(@TenantId() userId: number) {
    return { tasks: await this.syncer.list(userId) };
  }

  @Get('getTaskRuns')
  @ApiOperation({ summary: "Ours: a task's runs, newest first (at most 100)" })
  @ApiQuery({ name: 'taskID', type: 'integer' })
  async getTaskRuns(@TenantId() userId: number, @Query('taskID') taskID: unknown) {
    return { runs: await this.syncer.runs(userId, taskID) };
  }

  @Post('planTask')
  @HttpCode(200)
  @ApiOperation({ summary: 'Ours: what a run of this task would copy, skip and delete now, without doing it' })
  @ApiBody(TASK_BODY)
  async planTask(@TenantId() userId: number, @Body() body: Record<string, unknown>) {
    return { plan: await this.syncer.plan(userId, body) };
  }
}
