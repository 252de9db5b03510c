import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { DomainError, badArgument } from '#common';
import { sqlOf, type Statement } from '#db';
import { SyncContexts } from './sync-context.js';
import { SyncSchedules } from './sync-schedules.js';
import { nextRunTime, walk, type RunState } from './sync-runner.js';
import { parseTaskSpec, type SyncTaskSpec } from './task-spec.js';

export type TaskState = 'Scheduled' | RunState;


const CANCEL_TASK: Statement = {
  name: 'sync.cancelTask',
  text: `UPDATE sync_tasks SET state = 'Cancelled', next_run_time = NULL WHERE user_id = $1 AND task_id = $2 RETURNING spec`,
};
/** A run as the API shows it. */
export interface SyncRunView {
  runID: number;
  state: RunState;
  startTime: string;
  endTime: string | null;
  filesTotal: number;
  filesCopied: number;
  filesSkipped: number;
  filesFailed: number;
  filesDeleted: number;
  bytesTotal: number;
  bytesCopied: number;
  percent: number;
  errors: { path: string; message: string }[];
}

/** Task JSON of spec §7 plus ours (state, nextRunTime, lastRun, skippedTicks). */
export type SyncTaskView = { taskID: number } & SyncTaskSpec & {
  state: TaskState;
  nextRunTime: string | null;
  skippedTicks: number;
  lastRun: SyncRunView | null;
};

export interface PlanEntry {
  path: string;
  size: number;
  destUserSpaceID: number;
}

/** At most this many entries per list in a plan (`truncated` says there were more). */
const PLAN_LIMIT = 10_000;

const taskNotFound = (taskId: unknown) => new DomainError('TaskNotFound', `task ${String(taskId)} not found`);

/** The API side of the syncer (gateway): tasks of one tenant, whose userId is in every query. */
@Injectable()
export class SpaceSyncerService {
  private readonly log = new Logger('SpaceSyncer');

  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    private readonly contexts: SyncContexts,
    private readonly schedules: SyncSchedules,
  ) {}

  async create(userId: number, body: unknown): Promise<SyncTaskView> {
    const spec = parseTaskSpec(body);
    await this.contexts.resolve(userId, spec); // the spaces are the caller's, no folder in a shard area
    const next = spec.trigger.type === 'At' ? nextRunTime(spec, new Date()) : new Date(); // Once and Interval run now
    const [row] = await this.ds.query(
      `INSERT INTO sync_tasks (user_id, spec, state, next_run_time) VALUES ($1, $2::jsonb, 'Scheduled', $3) RETURNING task_id`,
      [userId, JSON.stringify(spec), next],
    );
    const taskId = Number(row.task_id);
    try {
      await this.schedules.schedule(taskId, spec.trigger);
    } catch (e) {
      // The row is the truth: a worker restores the schedule from it when Redis answers again.
      this.log.warn(`task ${taskId}: schedule not queued yet (${(e as Error).message}); the worker will restore it`);
    }
    return this.get(userId, taskId);
  }

  async get(userId: number, taskId: unknown): Promise<SyncTaskView> {
    const id = taskIdOf(taskId);
    const [row] = await this.ds.query(`SELECT * FROM sync_tasks WHERE user_id = $1 AND task_id = $2`, [userId, id]);
    if (!row) throw taskNotFound(taskId);
    const [run] = await this.ds.query(`SELECT * FROM sync_runs WHERE task_id = $1 AND user_id = $2 ORDER BY run_id DESC LIMIT 1`, [id, userId]);
    return taskView(row, run ? runView(run) : null);
  }

  async list(userId: number): Promise<SyncTaskView[]> {
    const rows = await this.ds.query(
      `SELECT t.*, to_jsonb(r) AS last_run FROM sync_tasks t
         LEFT JOIN LATERAL (SELECT * FROM sync_runs WHERE task_id = t.task_id ORDER BY run_id DESC LIMIT 1) r ON true
       WHERE t.user_id = $1 ORDER BY t.task_id LIMIT 1000`,
      [userId],
    );
    return rows.map((r: any) => taskView(r, r.last_run ? runView(r.last_run) : null));
  }

  async runs(userId: number, taskId: unknown): Promise<SyncRunView[]> {
    const id = taskIdOf(taskId);
    const [task] = await this.ds.query(`SELECT 1 FROM sync_tasks WHERE user_id = $1 AND task_id = $2`, [userId, id]);
    if (!task) throw taskNotFound(taskId);
    const rows = await this.ds.query(`SELECT * FROM sync_runs WHERE task_id = $1 AND user_id = $2 ORDER BY run_id DESC LIMIT 100`, [id, userId]);
    return rows.map(runView);
  }

  /** Stops the task for good: no further tick runs, a running run stops within a second or two. */
  async cancel(userId: number, taskId: unknown): Promise<void> {
    const id = taskIdOf(taskId);
    const rows = await sqlOf(this.ds).rows<{ spec: SyncTaskSpec }>(CANCEL_TASK, [userId, id]);
    if (rows.length === 0) throw taskNotFound(taskId);
    await this.schedules.unschedule(id, (rows[0].spec as SyncTaskSpec).trigger);
  }

  /** What a run of this task would do now, without doing it. */
  async plan(userId: number, body: unknown): Promise<{ copy: PlanEntry[]; skip: PlanEntry[]; delete: PlanEntry[]; truncated: boolean }> {
    const spec = parseTaskSpec(body);
    const ctx = await this.contexts.resolve(userId, spec);
    const plan = { copy: [] as PlanEntry[], skip: [] as PlanEntry[], delete: [] as PlanEntry[], truncated: false };
    const push = (list: PlanEntry[], e: PlanEntry) => {
      if (list.length < PLAN_LIMIT) list.push(e);
      else plan.truncated = true;
    };
    const destId = (i: number) => spec.destUserSpaceIDs[i];
    await walk(
      ctx,
      async (d) => {
        if (d.kind === 'folder') return;
        if (d.kind === 'extraneous') {
          if (spec.options.deleteExtraneous) for (const { dest, entry } of d.at) push(plan.delete, { path: d.path, size: entry.size, destUserSpaceID: destId(dest) });
          return;
        }
        for (const i of d.copyTo) push(plan.copy, { path: d.path, size: d.size, destUserSpaceID: destId(i) });
        for (const i of d.skipAt) push(plan.skip, { path: d.path, size: d.size, destUserSpaceID: destId(i) });
      },
      undefined,
      8,
    );
    // The same guard a run applies: a mirror that would delete more than maxDelete deletes nothing.
    if (spec.options.maxDelete !== null && plan.delete.length > spec.options.maxDelete) plan.delete = [];
    for (const list of [plan.copy, plan.skip, plan.delete]) list.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : a.destUserSpaceID - b.destUserSpaceID));
    return plan;
  }
}

function taskIdOf(v: unknown): number {
  const n = typeof v === 'string' && /^\d{1,15}$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n <= 0) throw badArgument('taskID must be a positive integer');
  return n;
}

function iso(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  return new Date(v as string).toISOString();
}

function taskView(row: any, lastRun: SyncRunView | null): SyncTaskView {
  const spec = row.spec as SyncTaskSpec;
  return {
    taskID: Number(row.task_id),
    trigger: spec.trigger,
    mode: spec.mode,
    filters: spec.filters,
    options: spec.options,
    srcUserSpaceID: spec.srcUserSpaceID,
    srcPath: spec.srcPath,
    destUserSpaceIDs: spec.destUserSpaceIDs,
    destPathes: spec.destPathes,
    state: row.state,
    nextRunTime: iso(row.next_run_time),
    skippedTicks: Number(row.skipped_ticks),
    lastRun,
  };
}

function runView(r: any): SyncRunView {
  const bytesTotal = Number(r.bytes_total);
  const bytesCopied = Number(r.bytes_copied);
  const finished = r.state === 'Succeeded';
  return {
    runID: Number(r.run_id),
    state: r.state,
    startTime: iso(r.start_time)!,
    endTime: iso(r.end_time),
    filesTotal: Number(r.files_total),
    filesCopied: Number(r.files_copied),
    filesSkipped: Number(r.files_skipped),
    filesFailed: Number(r.files_failed),
    filesDeleted: Number(r.files_deleted),
    bytesTotal,
    bytesCopied,
    percent: finished ? 100 : bytesTotal > 0 ? Math.min(100, Math.floor((bytesCopied * 100) / bytesTotal)) : 0,
    errors: r.errors ?? [],
  };
}
