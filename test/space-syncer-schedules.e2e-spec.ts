import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { S3Driver, type StorageDriver } from '#storage';
import { dropGatewayData, launchGatewayProcess, type GatewayInstance } from './support/gateway-process.js';
import { startS3rver, type RunningS3rver } from './support/s3rver.js';
import { createTask, expectSameTree, filesUnder, getRuns, getTask, localSpace, s3Space, waitForTask, writeTree } from './support/syncer.js';
import { launchWorkerProcess, type WorkerProcess } from './support/worker-process.js';

const WORKER_ENV = { JCS_SYNC_RECONCILE_SECONDS: '1', JCS_SYNC_LEASE_SECONDS: '3', JCS_SYNC_RETRY_BASE_MS: '50' };
const MiB = 1024 * 1024;

describe('space syncer: triggers, run lock, cancel, crash and Redis loss (real worker processes)', () => {
  let gw: GatewayInstance;
  let workers: WorkerProcess[] = [];
  let s3: RunningS3rver;
  let s3Driver: StorageDriver;
  let home: string;
  const client = () => gw.admin;
  const startWorker = async () => {
    const w = await launchWorkerProcess(gw, WORKER_ENV);
    workers.push(w);
    return w;
  };

  beforeAll(async () => {
    s3 = await startS3rver({ buckets: ['sched'] });
    gw = await launchGatewayProcess({ env: WORKER_ENV });
    await startWorker();
    const admin = JSON.parse(readFileSync(path.join(gw.dataDir, 'admin.json'), 'utf8'));
    home = path.join(gw.dataDir, 'tenants', String(admin.userID));
    s3Driver = new S3Driver({ endpoint: s3.endpoint, region: 'us-east-1', bucket: 'sched', forcePathStyle: true, accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER', requestTimeoutMs: 10_000 });
  });
  afterAll(async () => {
    for (const w of workers) await w.kill('SIGTERM');
    await gw?.kill('SIGTERM');
    await s3Driver?.close?.();
    await s3?.stop();
    if (gw) await dropGatewayData(gw.dbName, gw.dataDir);
  });

  const pair = async (name: string, files: Record<string, Buffer | string>) => {
    writeTree(path.join(home, `${name}-src`), files);
    const src = await localSpace(client(), `${name}-src`, `${name}-src`);
    const dst = await localSpace(client(), `${name}-dst`, `${name}-dst`);
    return { src, dst, srcRoot: path.join(home, `${name}-src`), dstRoot: path.join(home, `${name}-dst`) };
  };
  const finishedRuns = async (taskID: number) => (await getRuns(client(), taskID)).filter((r) => r.state !== 'Running');

  it('Interval runs now and then every interval; after cancelTask no further run starts', async () => {
    const { src, dst } = await pair('interval', { 'f.txt': 'x' });
    const task = await createTask(client(), { trigger: { type: 'Interval', interval: 2 }, srcUserSpaceID: src, destUserSpaceIDs: [dst], destPathes: [''] });
    expect(task).toMatchObject({ state: 'Scheduled', trigger: { type: 'Interval', interval: 2 } });
    await waitForTask(client(), task.taskID, () => true);
    const deadline = Date.now() + 30_000;
    while ((await finishedRuns(task.taskID)).length < 2 && Date.now() < deadline) await sleep(200);
    const runs = await finishedRuns(task.taskID);
    expect(runs.length).toBeGreaterThanOrEqual(2);
    expect(runs.at(-1)).toMatchObject({ state: 'Succeeded', filesCopied: 1 }); // the oldest: the first copy
    expect(runs[0]).toMatchObject({ state: 'Succeeded', filesCopied: 0, filesSkipped: 1 });
    expect((await getTask(client(), task.taskID)).nextRunTime).not.toBeNull();
    await client().post('/v1/spaceSyncer/cancelTask', { taskID: task.taskID });
    await waitForTask(client(), task.taskID, (t) => t.state === 'Cancelled' && t.nextRunTime === null);
    const count = (await getRuns(client(), task.taskID)).length;
    await sleep(5000); // two and a half intervals
    expect((await getRuns(client(), task.taskID)).length).toBe(count);
  });

  it('At runs once at each listed time, then the task is done', async () => {
    const { src, dst, srcRoot, dstRoot } = await pair('at', { 'a.txt': 'a' });
    const t1 = new Date(Date.now() + 2000);
    const t2 = new Date(Date.now() + 4000);
    const task = await createTask(client(), { trigger: { type: 'At', at: [t2.toISOString(), t1.toISOString()] }, srcUserSpaceID: src, destUserSpaceIDs: [dst], destPathes: [''] });
    expect(task.state).toBe('Scheduled');
    expect(task.nextRunTime).toBe(t1.toISOString());
    expect(await getRuns(client(), task.taskID)).toEqual([]);
    const done = await waitForTask(client(), task.taskID, (t) => t.state === 'Succeeded', 'both times to pass');
    const runs = await getRuns(client(), task.taskID);
    expect(runs.map((r) => r.state)).toEqual(['Succeeded', 'Succeeded']);
    expect(Date.parse(runs[1].startTime)).toBeGreaterThanOrEqual(t1.getTime() - 100);
    expect(Date.parse(runs[0].startTime)).toBeGreaterThanOrEqual(t2.getTime() - 100);
    expect(done.nextRunTime).toBeNull();
    expectSameTree(srcRoot, dstRoot);
  });

  it('never runs one task twice at once, even with two workers: ticks that find a run going are skipped and counted', async () => {
    const second = await startWorker();
    const { src, dst } = await pair('overlap', { 'big.bin': randomBytes(3 * MiB) });
    // 3 MiB at 1 MiB/s: every run lasts about three of its one-second ticks.
    const task = await createTask(client(), {
      trigger: { type: 'Interval', interval: 1 },
      mode: { type: 'Full' },
      options: { bandwidthLimit: MiB },
      srcUserSpaceID: src,
      destUserSpaceIDs: [dst],
      destPathes: [''],
    });
    const deadline = Date.now() + 40_000;
    while ((await finishedRuns(task.taskID)).length < 2 && Date.now() < deadline) await sleep(250);
    await client().post('/v1/spaceSyncer/cancelTask', { taskID: task.taskID });
    await waitForTask(client(), task.taskID, (t) => t.state === 'Cancelled' && t.lastRun?.state !== 'Running');
    const t = await getTask(client(), task.taskID);
    expect(t.skippedTicks).toBeGreaterThan(0);
    const runs = (await getRuns(client(), task.taskID)).reverse();
    expect(runs.length).toBeGreaterThanOrEqual(2);
    for (let i = 1; i < runs.length; i++) expect(Date.parse(runs[i].startTime)).toBeGreaterThanOrEqual(Date.parse(runs[i - 1].endTime));
    await second.kill('SIGTERM');
    workers = workers.filter((w) => w !== second);
  });

  it('a run outside its time window waits (copying nothing) and goes on inside it', async () => {
    const { src, dst, dstRoot } = await pair('window', { 'w.txt': 'w' });
    const hhmm = (d: Date) => d.toISOString().slice(11, 16);
    const now = Date.now();
    // A window that opened a minute ago and one that opens in two hours (UTC both).
    const open = { start: hhmm(new Date(now - 60_000)), end: hhmm(new Date(now + 3600_000)), timeZone: 'UTC' };
    const shut = { start: hhmm(new Date(now + 2 * 3600_000)), end: hhmm(new Date(now + 3 * 3600_000)), timeZone: 'UTC' };
    const waiting = await createTask(client(), { options: { window: shut }, srcUserSpaceID: src, destUserSpaceIDs: [dst], destPathes: ['shut'] });
    const inside = await createTask(client(), { options: { window: open }, srcUserSpaceID: src, destUserSpaceIDs: [dst], destPathes: ['open'] });
    await waitForTask(client(), inside.taskID, (t) => t.state === 'Succeeded');
    const paused = await waitForTask(client(), waiting.taskID, (t) => t.lastRun?.state === 'Running');
    expect(paused.lastRun.filesCopied).toBe(0);
    expect(filesUnder(dstRoot)).toEqual(['open/w.txt']);
    await client().post('/v1/spaceSyncer/cancelTask', { taskID: waiting.taskID });
    await waitForTask(client(), waiting.taskID, (t) => t.lastRun?.state === 'Cancelled');
    expect(filesUnder(dstRoot)).toEqual(['open/w.txt']);
  });

  it('cancelTask stops a run in the middle of a large file within seconds, leaving no partial file on Local or S3', async () => {
    const { src, dst, dstRoot } = await pair('cancel', { 'large.bin': randomBytes(48 * MiB) });
    const s3id = await s3Space(client(), 'cancel-s3', s3.endpoint, 'sched');
    const task = await createTask(client(), {
      mode: { type: 'Full' },
      options: { bandwidthLimit: 4 * MiB },
      srcUserSpaceID: src,
      destUserSpaceIDs: [dst, s3id],
      destPathes: ['', 'cancel'],
    });
    await waitForTask(client(), task.taskID, (t) => t.lastRun?.state === 'Running' && t.lastRun.bytesCopied > 0, 'the copy to start');
    await client().post('/v1/spaceSyncer/cancelTask', { taskID: task.taskID });
    const done = await waitForTask(client(), task.taskID, (t) => t.lastRun?.state === 'Cancelled', 'the run to stop');
    // Stopped in the middle: the 48 MiB at 4 MiB/s would take 12 s; nothing of it was finished.
    expect(done.state).toBe('Cancelled');
    expect(done.lastRun.filesCopied).toBe(0);
    expect(filesUnder(dstRoot)).toEqual([]); // no file, not even the driver's hidden temp file
    const keys: string[] = [];
    for await (const page of s3Driver.list('cancel')) keys.push(...page.map((e) => e.key));
    expect(keys).toEqual([]);
  });

  it('a run whose worker is SIGKILLed resumes in a new worker and copies nothing twice', async () => {
    const files: Record<string, Buffer> = {};
    for (let i = 0; i < 12; i++) files[`f${String(i).padStart(2, '0')}.bin`] = randomBytes(256 * 1024);
    const { src, dst, srcRoot, dstRoot } = await pair('crash', files);
    const task = await createTask(client(), {
      mode: { type: 'Full' },
      options: { bandwidthLimit: 512 * 1024, concurrency: 1 },
      srcUserSpaceID: src,
      destUserSpaceIDs: [dst],
      destPathes: [''],
    });
    const mid = await waitForTask(client(), task.taskID, (t) => t.lastRun?.filesCopied >= 3, 'a few files to be copied');
    for (const w of workers) await w.kill('SIGKILL');
    workers = [];
    const before = new Map(visible(filesUnder(dstRoot)).map((f) => [f, statSync(path.join(dstRoot, f)).ino]));
    expect(before.size).toBeGreaterThanOrEqual(3);
    expect(before.size).toBeLessThan(12);
    await startWorker();
    const done = await waitForTask(client(), task.taskID, (t) => t.state === 'Succeeded', 'the resumed run to finish');
    expect(done.lastRun.runID).toBe(mid.lastRun.runID);
    expect(done.lastRun).toMatchObject({ state: 'Succeeded', filesTotal: 12, filesCopied: 12, filesFailed: 0 });
    expect(await getRuns(client(), task.taskID)).toHaveLength(1);
    // Files copied before the kill were not written again (same inode: a copy is a new file renamed in).
    for (const [f, ino] of before) expect(statSync(path.join(dstRoot, f)).ino).toBe(ino);
    expect(visible(filesUnder(dstRoot))).toEqual(Object.keys(files).sort());
    for (const f of Object.keys(files)) expect(readFileSync(path.join(dstRoot, f)).equals(readFileSync(path.join(srcRoot, f)))).toBe(true);
  });

  it('schedules come back from PostgreSQL when Redis loses them', async () => {
    const { src, dst } = await pair('redis', { 'r.txt': 'r' });
    const task = await createTask(client(), { trigger: { type: 'Interval', interval: 2 }, srcUserSpaceID: src, destUserSpaceIDs: [dst], destPathes: [''] });
    const deadline = Date.now() + 30_000;
    while ((await finishedRuns(task.taskID)).length < 1 && Date.now() < deadline) await sleep(200);
    // Empty this deployment's part of Redis (the queue prefix): other users of the same Redis keep theirs.
    const redis = new Redis('redis://127.0.0.1:6379');
    try {
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${gw.dbName}:*`, 'COUNT', 1000);
        if (keys.length) await redis.del(...keys);
        cursor = next;
      } while (cursor !== '0');
    } finally {
      redis.disconnect();
    }
    const after = (await getRuns(client(), task.taskID)).length;
    const later = Date.now() + 30_000;
    while ((await finishedRuns(task.taskID)).length < after + 2 && Date.now() < later) await sleep(200);
    expect((await finishedRuns(task.taskID)).length).toBeGreaterThanOrEqual(after + 2);
    await client().post('/v1/spaceSyncer/cancelTask', { taskID: task.taskID });
  });
});

/** The driver's hidden temp files (`.tmp-…`) are not files of the tree. */
const visible = (files: string[]) => files.filter((f) => !path.basename(f).startsWith('.tmp-'));
