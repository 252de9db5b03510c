import { expect } from '@jest/globals';
import { mkdirSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { SignedClient } from './signed-client.js';

/** Helpers of the space-syncer suites: spaces, tasks, runs, and file trees on disk. */
export const S3_CREDENTIAL = { type: 'S3', accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

export async function createSpace(client: SignedClient, name: string, storage: Record<string, unknown>, credential: Record<string, unknown> = { type: 'Local' }): Promise<number> {
  const res = await client.post('/v1/userSpace/create', { name, storage, credential, shardStore: null, workingDir: '.jcs' });
  if (res.body.code !== 'OK') throw new Error(`space ${name}: ${JSON.stringify(res.body)}`);
  return res.body.data.userSpace.userSpaceID;
}

export const localSpace = (client: SignedClient, name: string, rootDir: string) => createSpace(client, name, { type: 'Local', rootDir });
export const s3Space = (client: SignedClient, name: string, endpoint: string, bucket: string) =>
  createSpace(client, name, { type: 'S3', region: 'us-east-1', endpoint, bucket, forcePathStyle: true }, S3_CREDENTIAL);
export const obsSpace = (client: SignedClient, name: string, endpoint: string, bucket: string) =>
  createSpace(client, name, { type: 'OBS', region: 'r1', endpoint, bucket, projectID: 'p' }, { type: 'OBS', accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' });

export interface TaskBody {
  trigger?: Record<string, unknown>;
  mode?: Record<string, unknown>;
  filters?: unknown[];
  options?: Record<string, unknown>;
  srcUserSpaceID: number;
  srcPath?: string;
  destUserSpaceIDs: number[];
  destPathes: string[];
}

export const DIFF_SIZE_TIME = { type: 'Diff', includeSize: true, includeModTime: true };

export async function createTask(client: SignedClient, body: TaskBody): Promise<any> {
  const res = await client.post('/v1/spaceSyncer/createTask', { trigger: { type: 'Once' }, mode: DIFF_SIZE_TIME, filters: [], srcPath: '', ...body });
  if (res.body.code !== 'OK') throw new Error(`createTask: ${JSON.stringify(res.body)}`);
  return res.body.data.task;
}

export async function getTask(client: SignedClient, taskID: number): Promise<any> {
  const res = await client.get('/v1/spaceSyncer/getTask', { taskID });
  if (res.body.code !== 'OK') throw new Error(`getTask: ${JSON.stringify(res.body)}`);
  return res.body.data.task;
}

export async function getRuns(client: SignedClient, taskID: number): Promise<any[]> {
  const res = await client.get('/v1/spaceSyncer/getTaskRuns', { taskID });
  if (res.body.code !== 'OK') throw new Error(`getTaskRuns: ${JSON.stringify(res.body)}`);
  return res.body.data.runs;
}

/** Polls the task until `ok` holds (60 s at most; the test fails with the last task seen otherwise). */
export async function waitForTask(client: SignedClient, taskID: number, ok: (task: any) => boolean, what = 'the task'): Promise<any> {
  const deadline = Date.now() + 60_000;
  let task: any;
  for (;;) {
    task = await getTask(client, taskID);
    if (ok(task)) return task;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(task)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const FINISHED = new Set(['Succeeded', 'Failed', 'Cancelled']);

/** Runs a Once task to its end and returns its (only) run. */
export async function runOnce(client: SignedClient, body: TaskBody): Promise<any> {
  const task = await createTask(client, { ...body, trigger: { type: 'Once' } });
  const done = await waitForTask(client, task.taskID, (t) => t.lastRun && FINISHED.has(t.lastRun.state) && t.state !== 'Running', 'the run to end');
  return { ...done.lastRun, taskID: task.taskID };
}

/** Writes files `{relative path: content}` under `root`, each with the given mtime (or a fixed past one). */
export function writeTree(root: string, files: Record<string, Buffer | string>, mtime = new Date('2020-05-06T07:08:09.123Z')): void {
  for (const [rel, content] of Object.entries(files)) {
    const abs = path.join(root, ...rel.split('/'));
    mkdirSync(path.dirname(abs), { recursive: true });
    writeFileSync(abs, content);
    utimesSync(abs, mtime, mtime);
  }
}

/** Every file under `root` (relative '/'-paths, sorted), hidden temp files included. */
export function filesUnder(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string, rel: string) => {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const n of names) {
      const abs = path.join(dir, n);
      const r = rel ? `${rel}/${n}` : n;
      if (statSync(abs).isDirectory()) walk(abs, r);
      else out.push(r);
    }
  };
  walk(root, '');
  return out.sort();
}

/** The destination has exactly the source's files, byte for byte, with the source's mtimes. */
export function expectSameTree(src: string, dst: string, only?: string[]): void {
  const files = only ?? filesUnder(src);
  expect(filesUnder(dst)).toEqual([...files].sort());
  for (const f of files) {
    const a = path.join(src, f);
    const b = path.join(dst, f);
    expect(readFileSync(b).equals(readFileSync(a))).toBe(true);
    expect(statSync(b).mtime.getTime()).toBe(statSync(a).mtime.getTime());
  }
}
