import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { setTimeout as sleep } from 'node:timers/promises';
import { DataSource } from 'typeorm';
import { DomainError } from '#common';
import { APP_CONFIG, type AppConfig } from '#config';
import { sqlOf, type Statement } from '#db';
import { PROBE_FAILURE, probeFailureCategory } from '#user-spaces';
import { copyWithRetries } from './copier.js';
import { Semaphore, Throttle } from './limits.js';
import { march, relativeEntries } from './march.js';
import { DoneMarks, RunProgress } from './run-progress.js';
import { SyncContexts, decide, keyIn, type Decision, type SyncContext } from './sync-context.js';
import type { SyncTaskSpec } from './task-spec.js';
import { insideWindow } from './window.js';

export type TickResult = 'ran' | 'skipped' | 'gone';
export type RunState = 'Running' | 'Succeeded' | 'Failed' | 'Cancelled';

interface ClaimedTask {
  taskId: number;
  userId: number;
  spec: SyncTaskSpec;
}


/** One beat of a run: its lease renewed; no row when the run lost it. */
const RENEW_LEASE: Statement = {
  name: 'sync.renewLease',
  text: `UPDATE sync_tasks SET lease_until = now() + make_interval(secs => $3) WHERE task_id = $1 AND current_run_id = $2 RETURNING state`,
};
/** Why a run stopped before its end: the task was cancelled, or the run must be resumed elsewhere. */
type StopReason = 'cancelled' | 'lost-lease' | 'shutdown';

/** Paths handled at once by the planner (listing checks, HEADs) beyond the transfers themselves. */
const CHECKERS = 16;
/**
 * Files below this size are bound by per-file latency (opens, fsyncs, requests), not bandwidth: up to
 * SMALL_FILE_FACTOR × `concurrency` of them move at once (each holds at most its own size in memory).
 */
const SMALL_FILE = 1024 * 1024;
const SMALL_FILE_FACTOR = 4;

/**
 * Executes the ticks of sync tasks (on the worker). The run lock is the task row: a tick claims it
 * with a compare-and-set in one transaction (`FOR UPDATE`), so of two workers ticking one task at
 * once exactly one runs it and the other counts a skipped tick; the claim is a lease the running
 * worker renews every second together with the progress row. A run whose lease ran out (its worker
 * was killed) is resumed by the next tick, skipping the files its done marks list.
 */
@Injectable()
export class SyncRunner {
  private readonly log = new Logger('SyncRunner');
  private readonly active = new Map<number, AbortController>();

  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly contexts: SyncContexts,
  ) {}

  async tick(taskId: number): Promise<TickResult> {
    const claim = await this.claim(taskId);
    if (claim === 'skipped' || claim === 'gone') return claim;
    await this.execute(claim.task, claim.runId, claim.resumed);
    return 'ran';
  }

  /** Stops every run of this process (shutdown): each is left to be resumed, its lease released at once. */
  stopAll(): void {
    for (const ac of this.active.values()) ac.abort('shutdown' satisfies StopReason);
  }

  get running(): number {
    return this.active.size;
  }

  private async claim(taskId: number): Promise<'skipped' | 'gone' | { task: ClaimedTask; runId: number; resumed: boolean }> {
    const leaseSeconds = this.config.JCS_SYNC_LEASE_SECONDS;
    return this.ds.transaction(async (em) => {
      const [row] = await em.query(
        `SELECT task_id, user_id, spec, state, current_run_id, lease_until > now() AS leased FROM sync_tasks WHERE task_id = $1 FOR UPDATE`,
        [taskId],
      );
      if (!row || row.state === 'Cancelled') return 'gone';
      const spec = row.spec as SyncTaskSpec;
      let runId: number;
      let resumed = false;
      if (row.current_run_id !== null) {
        if (row.leased) {
          await em.query(`UPDATE sync_tasks SET skipped_ticks = skipped_ticks + 1 WHERE task_id = $1`, [taskId]);
          return 'skipped';
        }
        runId = Number(row.current_run_id);
        resumed = true;
        await em.query(`UPDATE sync_runs SET attempts = attempts + 1 WHERE run_id = $1`, [runId]);
      } else {
        // A finished Once (or At with no time left) task has nothing more to run: a stray tick is dropped.
        if (row.state === 'Succeeded' || row.state === 'Failed') return 'gone';
        const [run] = await em.query(`INSERT INTO sync_runs (task_id, user_id, state) VALUES ($1, $2, 'Running') RETURNING run_id`, [taskId, row.user_id]);
        runId = Number(run.run_id);
      }
      await em.query(
        `UPDATE sync_tasks SET current_run_id = $2, lease_until = now() + make_interval(secs => $3), state = 'Running', next_run_time = $4 WHERE task_id = $1`,
        [taskId, runId, leaseSeconds, nextRunTime(spec, new Date())],
      );
      return { task: { taskId, userId: Number(row.user_id), spec }, runId, resumed };
    });
  }

  private async execute(task: ClaimedTask, runId: number, resumed: boolean): Promise<void> {
    const ac = new AbortController();
    this.active.set(runId, ac);
    const progress = new RunProgress();
    const marks = new DoneMarks(this.ds, runId);
    let beating: Promise<void> | undefined;
    const heartbeat = setInterval(() => {
      beating ??= this.beat(task.taskId, runId, progress, ac).finally(() => (beating = undefined));
    }, 1000);
    let state: RunState;
    let ctx: SyncContext | undefined;
    try {
      ctx = await this.contexts.resolve(task.userId, task.spec);
      await this.run(ctx, task, progress, marks, resumed, ac.signal);
      await marks.flush();
      await ctx.kept.flush();
      state = progress.filesFailed > 0 || progress.errors.some((e) => e.path === '') ? 'Failed' : 'Succeeded';
    } catch (err) {
      const reason = ac.signal.aborted ? (ac.signal.reason as StopReason) : undefined;
      await marks.flush().catch(() => undefined);
      await ctx?.kept.flush().catch(() => undefined);
      if (reason === 'lost-lease' || reason === 'shutdown') {
        clearInterval(heartbeat);
        await beating;
        if (reason === 'shutdown') await progress.save(this.ds, runId).catch(() => undefined);
        // Let the next tick (another worker's, or ours after a restart) take it over without waiting.
        // (A lost lease means another worker has the run now: its progress is the one to keep.)
        if (reason === 'shutdown')
          await this.ds.query(`UPDATE sync_tasks SET lease_until = now() WHERE task_id = $1 AND current_run_id = $2`, [task.taskId, runId]).catch(() => undefined);
        this.active.delete(runId);
        this.log.log(`run ${runId} of task ${task.taskId} stopped (${reason}); it will be resumed`);
        return;
      }
      if (reason === 'cancelled') state = 'Cancelled';
      else {
        state = 'Failed';
        progress.fail('', this.tenantMessage(err, ''));
      }
    } finally {
      clearInterval(heartbeat);
    }
    await beating;
    this.active.delete(runId);
    await this.finish(task, runId, state, progress);
  }

  /** Progress row and lease renewal in one beat; a cancelled task or a lost lease stops the run. */
  private async beat(taskId: number, runId: number, progress: RunProgress, ac: AbortController): Promise<void> {
    try {
      await progress.save(this.ds, runId);
      const rows = await sqlOf(this.ds).rows<{ state: string }>(RENEW_LEASE, [taskId, runId, this.config.JCS_SYNC_LEASE_SECONDS]);
      if (rows.length === 0) ac.abort('lost-lease' satisfies StopReason);
      else if (rows[0].state === 'Cancelled') ac.abort('cancelled' satisfies StopReason);
    } catch (e) {
      this.log.warn(`run ${runId}: progress not saved: ${(e as Error).message}`);
    }
  }

  private async finish(task: ClaimedTask, runId: number, state: RunState, progress: RunProgress): Promise<void> {
    await progress.save(this.ds, runId);
    await this.ds.query(`UPDATE sync_runs SET state = $2, end_time = now() WHERE run_id = $1`, [runId, state]);
    const t = task.spec.trigger;
    const more = t.type === 'Interval' || (t.type === 'At' && t.at.some((at) => Date.parse(at) > Date.now()));
    const taskState = state === 'Cancelled' ? 'Cancelled' : more ? 'Scheduled' : state;
    await this.ds.query(
      `UPDATE sync_tasks SET current_run_id = NULL, lease_until = NULL,
         state = CASE WHEN state = 'Cancelled' THEN 'Cancelled' ELSE $3 END,
         next_run_time = CASE WHEN state = 'Cancelled' THEN NULL ELSE next_run_time END
       WHERE task_id = $1 AND current_run_id = $2`,
      [task.taskId, runId, taskState],
    );
    this.log.log(`run ${runId} of task ${task.taskId}: ${state} (${progress.filesCopied} copied, ${progress.filesSkipped} skipped, ${progress.filesFailed} failed)`);
  }

  /** Marks the interrupted run of a task cancelled meanwhile as Cancelled (its worker died before it saw it). */
  async closeCancelledRun(taskId: number, runId: number): Promise<void> {
    await this.ds.query(`UPDATE sync_runs SET state = 'Cancelled', end_time = now() WHERE run_id = $1 AND state = 'Running'`, [runId]);
    await this.ds.query(`UPDATE sync_tasks SET current_run_id = NULL, lease_until = NULL WHERE task_id = $1 AND current_run_id = $2`, [taskId, runId]);
  }

  /** The run itself: the march, transfers with bounded concurrency, then (all good) the deletions. */
  private async run(ctx: SyncContext, task: ClaimedTask, progress: RunProgress, marks: DoneMarks, resumed: boolean, signal: AbortSignal): Promise<void> {
    const { options } = task.spec;
    const transfers = new Semaphore(options.concurrency);
    const smallTransfers = new Semaphore(options.concurrency * SMALL_FILE_FACTOR);
    const throttle = options.bandwidthLimit ? new Throttle(options.bandwidthLimit) : undefined;
    let extraneous = 0;
    await waitForWindow(task.spec, signal);
    await walk(
      ctx,
      async (d) => {
        if (d.kind === 'extraneous') {
          extraneous += d.at.length;
          return;
        }
        if (d.kind === 'folder') {
          for (const i of d.makeAt) await ctx.dests[i].driver.makeFolder(keyIn(ctx.dests[i], d.path.slice(0, -1)));
          return;
        }
        progress.filesTotal++;
        progress.bytesTotal += d.size;
        if (d.done) {
          progress.filesCopied++;
          progress.bytesCopied += d.size;
          if (options.deleteSource) await this.deleteSource(ctx, d.path);
          return;
        }
        for (const i of d.refusedAt) progress.fail(d.path, `not written to destination ${i}: it lies in the gateway's shard area`);
        if (d.copyTo.length === 0) {
          if (d.refusedAt.length) progress.filesFailed++;
          else {
            progress.filesSkipped++;
            if (options.deleteSource) await this.deleteSource(ctx, d.path);
          }
          return;
        }
        await waitForWindow(task.spec, signal);
        const release = await (d.size < SMALL_FILE ? smallTransfers : transfers).acquire();
        let read = 0;
        let outcome;
        try {
          signal.throwIfAborted();
          outcome = await copyWithRetries(
            ctx.src.driver,
            keyIn(ctx.src, d.path),
            { size: d.size, modTime: d.modTime },
            d.copyTo.map((i) => ({ driver: ctx.dests[i].driver, key: keyIn(ctx.dests[i], d.path) })),
            {
              signal,
              throttle,
              onBytes: (n) => {
                read += n;
                progress.bytesCopied += n;
              },
              retry: { attempts: this.config.JCS_SYNC_RETRY_ATTEMPTS, baseDelayMs: this.config.JCS_SYNC_RETRY_BASE_MS },
            },
          );
        } finally {
          release();
          progress.bytesCopied -= read; // counted as the file's size once it is done, below
        }
        const failures = outcome.errors.map((e, k) => (e ? `destination ${d.copyTo[k]}: ${this.tenantMessage(e, d.path)}` : '')).filter(Boolean);
        if (failures.length || d.refusedAt.length) {
          progress.filesFailed++;
          if (failures.length) progress.fail(d.path, failures.join('; '));
          return;
        }
        d.copyTo.forEach((i, k) => {
          const side = ctx.dests[i];
          const etag = outcome.etags[k];
          if (!side.driver.listsModTime && etag) ctx.kept.add(side.space.userSpaceId, keyIn(side, d.path), etag, d.size, d.modTime);
        });
        marks.add(d.path, d.size, outcome.sha256 ?? '');
        progress.filesCopied++;
        progress.bytesCopied += d.size;
        if (options.deleteSource) await this.deleteSource(ctx, d.path);
      },
      signal,
      CHECKERS + options.concurrency * (SMALL_FILE_FACTOR + 1),
      resumed ? marks.list() : undefined,
      (path, err) => {
        progress.filesTotal++;
        progress.filesFailed++;
        progress.fail(path, `could not be checked: ${this.tenantMessage(err, path)}`);
      },
    );
    if (!options.deleteExtraneous || extraneous === 0) return;
    if (progress.filesFailed > 0) {
      progress.fail('', `${progress.filesFailed} files failed, so no destination file was deleted (deleteExtraneous)`);
      return;
    }
    if (options.maxDelete !== null && extraneous > options.maxDelete) {
      progress.fail('', `the run would delete ${extraneous} destination files, more than maxDelete (${options.maxDelete}): nothing was deleted`);
      return;
    }
    // Deletions only once every transfer succeeded (rclone's order), from a second march.
    await walk(
      ctx,
      async (d) => {
        if (d.kind !== 'extraneous') return;
        for (const { dest } of d.at) {
          signal.throwIfAborted();
          const side = ctx.dests[dest];
          await side.driver.delete(keyIn(side, d.path), side.root ? { keepDirs: side.root } : {});
          if (!side.driver.listsModTime) await ctx.kept.forget(side.space.userSpaceId, keyIn(side, d.path));
          progress.filesDeleted++;
        }
      },
      signal,
      CHECKERS,
    );
  }

  /**
   * What a run's errors tell the tenant: the gateway's own refusals (a wrong size, a missing space, a
   * folder in a shard area) as they are; a backend's failure only as one fixed category, as
   * `userSpace/test` does — its own words name hosts, ports and host paths. The detail is logged.
   */
  private tenantMessage(err: unknown, path: string): string {
    if (err instanceof DomainError && (err.code === 'BadArgument' || err.code === 'DataNotFound')) return err.message;
    this.log.warn(`sync of ${JSON.stringify(path)} failed: ${(err as Error)?.message ?? String(err)}`);
    return PROBE_FAILURE[probeFailureCategory(err)];
  }

  private async deleteSource(ctx: SyncContext, path: string): Promise<void> {
    // The task's own folder stays even when it is emptied (the next run lists it again).
    await ctx.src.driver.delete(keyIn(ctx.src, path), ctx.src.root ? { keepDirs: ctx.src.root } : {});
  }
}

/**
 * Marches the task's listings and hands every decision to `handle`, at most `parallel` paths at once
 * (their checks and transfers); the march waits while they are all busy, so memory stays bounded. The
 * first failure of `handle` (never a single file's copy: those are counted) stops the walk.
 */
export async function walk(
  ctx: SyncContext,
  handle: (d: Decision) => Promise<void>,
  signal: AbortSignal | undefined,
  parallel: number,
  done?: AsyncIterable<string>,
  /** A path whose check failed (a HEAD that still failed): counted by the caller; absent, the walk stops. */
  checkFailed?: (path: string, err: unknown) => void,
): Promise<void> {
  const slots = new Semaphore(parallel);
  const running = new Set<Promise<void>>();
  let failure: unknown;
  const listing = (side: SyncContext['src']) => {
    const entries = relativeEntries(side.driver, side.root, side.areas, { folders: ctx.folders });
    return side.driver.listsModTime ? entries : ctx.kept.merged(side.space.userSpaceId, side.root, entries);
  };
  const items = march(listing(ctx.src), ctx.dests.map(listing), done);
  for await (const item of items) {
    signal?.throwIfAborted();
    if (failure !== undefined) break;
    const release = await slots.acquire();
    const checked = checkFailed
      ? decide(ctx, item).catch((e) => {
          if (signal?.aborted) throw e;
          checkFailed(item.path, e);
          return null;
        })
      : decide(ctx, item);
    const p = checked
      .then((d) => (d ? handle(d) : undefined))
      .catch((e) => void (failure ??= e))
      .finally(() => {
        release();
        running.delete(p);
      });
    running.add(p);
  }
  await Promise.all(running);
  if (failure !== undefined) throw failure;
  signal?.throwIfAborted();
}

/** The next tick's time as shown to clients: unknown for Once (now), from the spec for the others. */
export function nextRunTime(spec: SyncTaskSpec, from: Date): Date | null {
  const t = spec.trigger;
  if (t.type === 'Interval') return new Date(from.getTime() + t.interval * 1000);
  if (t.type === 'At') {
    const next = t.at.map((a) => Date.parse(a)).find((ms) => ms > from.getTime());
    return next === undefined ? null : new Date(next);
  }
  return null;
}

/** Outside the task's window a run pauses here (between files) until the window opens again. */
async function waitForWindow(spec: SyncTaskSpec, signal: AbortSignal): Promise<void> {
  while (!insideWindow(spec.options.window)) await sleep(1000, undefined, { signal });
}
