import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { ObsDriver, S3Driver, type StorageDriver } from '#storage';
import { dropGatewayData, launchGatewayProcess, type GatewayInstance } from './support/gateway-process.js';
import { startS3rver, type RunningS3rver } from './support/s3rver.js';
import {
  DIFF_SIZE_TIME,
  createTask,
  expectSameTree,
  filesUnder,
  localSpace,
  obsSpace,
  runOnce,
  s3Space,
  writeTree,
} from './support/syncer.js';
import { launchWorkerProcess, type WorkerProcess } from './support/worker-process.js';

const T0 = new Date('2020-05-06T07:08:09.123Z');

describe('space syncer: Once runs between Local, S3 and OBS spaces', () => {
  let gw: GatewayInstance;
  let worker: WorkerProcess;
  let s3: RunningS3rver;
  let home: string;
  let s3Driver: StorageDriver;
  let obsDriver: StorageDriver;
  const client = () => gw.admin;

  beforeAll(async () => {
    s3 = await startS3rver({ buckets: ['sync-s3', 'sync-obs'] });
    gw = await launchGatewayProcess({ env: { JCS_SYNC_RECONCILE_SECONDS: '1', JCS_SYNC_LEASE_SECONDS: '3' } });
    worker = await launchWorkerProcess(gw, { JCS_SYNC_RECONCILE_SECONDS: '1', JCS_SYNC_LEASE_SECONDS: '3', JCS_SYNC_RETRY_BASE_MS: '50' });
    const admin = JSON.parse(readFileSync(path.join(gw.dataDir, 'admin.json'), 'utf8'));
    home = path.join(gw.dataDir, 'tenants', String(admin.userID));
    s3Driver = new S3Driver({ endpoint: s3.endpoint, region: 'us-east-1', bucket: 'sync-s3', forcePathStyle: true, accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER', requestTimeoutMs: 10_000 });
    obsDriver = new ObsDriver({ endpoint: s3.endpoint, region: 'r1', bucket: 'sync-obs', accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER', requestTimeoutMs: 10_000 });
  });
  afterAll(async () => {
    await worker?.kill('SIGTERM');
    await gw?.kill('SIGTERM');
    await s3Driver?.close?.();
    await obsDriver?.close?.();
    await s3?.stop();
    if (gw) await dropGatewayData(gw.dbName, gw.dataDir);
  });

  const tree = () => ({
    'a.txt': 'alpha',
    'empty.bin': Buffer.alloc(0),
    'deep/er/b.bin': randomBytes(70_000),
    'deep/c d ü.mp4': randomBytes(2_000_000),
  });

  it('copies Local to Local byte-exact with modification times kept; a second Diff run copies nothing', async () => {
    writeTree(path.join(home, 'll-src'), tree(), T0);
    const src = await localSpace(client(), 'll-src', 'll-src');
    const dst = await localSpace(client(), 'll-dst', 'll-dst');
    const body = { srcUserSpaceID: src, destUserSpaceIDs: [dst], destPathes: ['mirror'] };
    const first = await runOnce(client(), body);
    expect(first).toMatchObject({ state: 'Succeeded', filesTotal: 4, filesCopied: 4, filesSkipped: 0, filesFailed: 0, percent: 100, errors: [] });
    expect(first.bytesCopied).toBe(first.bytesTotal);
    expectSameTree(path.join(home, 'll-src'), path.join(home, 'll-dst', 'mirror'));
    const second = await runOnce(client(), body);
    expect(second).toMatchObject({ state: 'Succeeded', filesTotal: 4, filesCopied: 0, filesSkipped: 4 });
  });

  it('copies Local to S3 and S3 to OBS with times kept as rclone metadata; second Diff runs copy nothing', async () => {
    writeTree(path.join(home, 'ls-src'), tree(), T0);
    const src = await localSpace(client(), 'ls-src', 'ls-src');
    const s3id = await s3Space(client(), 's3', s3.endpoint, 'sync-s3');
    const obsid = await obsSpace(client(), 'obs', s3.endpoint, 'sync-obs');
    const toS3 = { srcUserSpaceID: src, destUserSpaceIDs: [s3id], destPathes: ['in'] };
    expect(await runOnce(client(), toS3)).toMatchObject({ state: 'Succeeded', filesCopied: 4 });
    const toObs = { srcUserSpaceID: s3id, srcPath: 'in', destUserSpaceIDs: [obsid], destPathes: ['out/x'] };
    expect(await runOnce(client(), toObs)).toMatchObject({ state: 'Succeeded', filesCopied: 4 });
    const local = filesUnder(path.join(home, 'ls-src'));
    for (const [driver, prefix] of [[s3Driver, 'in/'], [obsDriver, 'out/x/']] as const) {
      for (const rel of local) {
        const want = readFileSync(path.join(home, 'ls-src', rel));
        const got = await readAll(await driver.createReadStream(prefix + rel));
        expect(got.equals(want)).toBe(true);
        expect((await driver.head(prefix + rel))?.modTime.getTime()).toBe(T0.getTime());
      }
    }
    expect(await runOnce(client(), toS3)).toMatchObject({ state: 'Succeeded', filesCopied: 0, filesSkipped: 4 });
    expect(await runOnce(client(), toObs)).toMatchObject({ state: 'Succeeded', filesCopied: 0, filesSkipped: 4 });
    // Someone else overwrites an object (same size, other bytes, no kept time): the next Diff run sees
    // the new version and copies that one file again.
    const size = statSync(path.join(home, 'ls-src', 'deep/er/b.bin')).size;
    await s3Driver.write('in/deep/er/b.bin', Readable.from([randomBytes(size)]), { size });
    expect(await runOnce(client(), toS3)).toMatchObject({ state: 'Succeeded', filesCopied: 1, filesSkipped: 3 });
    expect((await readAll(await s3Driver.createReadStream('in/deep/er/b.bin'))).equals(readFileSync(path.join(home, 'ls-src', 'deep/er/b.bin')))).toBe(true);
  });

  it('copies one source to three destinations at once (Local, S3, OBS), every copy byte-exact with its time', async () => {
    writeTree(path.join(home, 'fan-src'), tree(), T0);
    const src = await localSpace(client(), 'fan-src', 'fan-src');
    const dst = await localSpace(client(), 'fan-dst', 'fan-dst');
    const s3id = await s3Space(client(), 'fan-s3', s3.endpoint, 'sync-s3');
    const obsid = await obsSpace(client(), 'fan-obs', s3.endpoint, 'sync-obs');
    const body = { srcUserSpaceID: src, destUserSpaceIDs: [dst, s3id, obsid], destPathes: ['', 'fan', 'fan'] };
    expect(await runOnce(client(), body)).toMatchObject({ state: 'Succeeded', filesCopied: 4, filesFailed: 0 });
    expectSameTree(path.join(home, 'fan-src'), path.join(home, 'fan-dst'));
    for (const driver of [s3Driver, obsDriver])
      for (const rel of filesUnder(path.join(home, 'fan-src'))) {
        expect((await readAll(await driver.createReadStream(`fan/${rel}`))).equals(readFileSync(path.join(home, 'fan-src', rel)))).toBe(true);
        expect((await driver.head(`fan/${rel}`))?.modTime.getTime()).toBe(T0.getTime());
      }
    expect(await runOnce(client(), body)).toMatchObject({ state: 'Succeeded', filesCopied: 0, filesSkipped: 4 });
  });

  it('Full copies everything; Diff skips what matches on the chosen attributes; planTask says beforehand what the run does', async () => {
    const srcRoot = path.join(home, 'modes-src');
    const files = { 'same.txt': 'same-content', 'time.txt': 'time-content', 'size.txt': 'size-content', 'new.txt': 'new-content' };
    writeTree(srcRoot, files, T0);
    const src = await localSpace(client(), 'modes-src', 'modes-src');
    const dst = await localSpace(client(), 'modes-dst', 'modes-dst');
    const prepare = () => {
      const root = path.join(home, 'modes-dst');
      rmTree(root);
      writeTree(root, { 'same.txt': 'same-content', 'size.txt': 'size-content-longer' }, T0);
      writeTree(root, { 'time.txt': 'time-CONTENT' }, new Date('2021-01-01T00:00:00Z'));
    };
    const cases: [string, Record<string, unknown>, string[]][] = [
      ['Full', { type: 'Full' }, ['new.txt', 'same.txt', 'size.txt', 'time.txt']],
      ['Diff size+time', { type: 'Diff', includeSize: true, includeModTime: true }, ['new.txt', 'size.txt', 'time.txt']],
      ['Diff size', { type: 'Diff', includeSize: true, includeModTime: false }, ['new.txt', 'size.txt']],
      ['Diff time', { type: 'Diff', includeSize: false, includeModTime: true }, ['new.txt', 'time.txt']],
      ['Diff existence', { type: 'Diff', includeSize: false, includeModTime: false }, ['new.txt']],
    ];
    for (const [label, mode, copied] of cases) {
      prepare();
      const body = { mode, srcUserSpaceID: src, destUserSpaceIDs: [dst], destPathes: [''] };
      const plan = (await client().post('/v1/spaceSyncer/planTask', { trigger: { type: 'Once' }, ...body })).body.data.plan;
      expect({ label, copy: plan.copy.map((e: any) => e.path) }).toEqual({ label, copy: copied });
      expect(plan.copy.every((e: any) => e.destUserSpaceID === dst)).toBe(true);
      expect(plan.skip.map((e: any) => e.path).sort()).toEqual(Object.keys(files).filter((f) => !copied.includes(f)).sort());
      const run = await runOnce(client(), body);
      expect({ label, copied: run.filesCopied, skipped: run.filesSkipped }).toEqual({ label, copied: copied.length, skipped: 4 - copied.length });
      for (const f of copied) {
        expect(readFileSync(path.join(home, 'modes-dst', f), 'utf8')).toBe(files[f as keyof typeof files]);
        expect(statSync(path.join(home, 'modes-dst', f)).mtime.getTime()).toBe(T0.getTime());
      }
    }
  });

  it('applies each filter (Size bounds inclusive, Extension in any case, Path globs) and their combination', async () => {
    const MiB = 1024 * 1024;
    const srcRoot = path.join(home, 'filters-src');
    writeTree(srcRoot, {
      'a.mp4': randomBytes(2 * MiB),
      'b.MP4': randomBytes(10),
      'c.txt': randomBytes(2 * MiB),
      'sub/d.mp4': randomBytes(MiB),
      'skip/e.mp4': randomBytes(2 * MiB),
      '.hidden.mp4': randomBytes(3),
    });
    const src = await localSpace(client(), 'filters-src', 'filters-src');
    const dst = await localSpace(client(), 'filters-dst', 'filters-dst');
    const planned = async (filters: unknown[]) => {
      const res = await client().post('/v1/spaceSyncer/planTask', {
        trigger: { type: 'Once' }, mode: { type: 'Full' }, filters, srcUserSpaceID: src, srcPath: '', destUserSpaceIDs: [dst], destPathes: [''],
      });
      expect(res.body.code).toBe('OK');
      return res.body.data.plan.copy.map((e: any) => e.path);
    };
    expect(await planned([{ type: 'Size', minSize: MiB }])).toEqual(['a.mp4', 'c.txt', 'skip/e.mp4', 'sub/d.mp4']);
    expect(await planned([{ type: 'Size', maxSize: 10 }])).toEqual(['.hidden.mp4', 'b.MP4']);
    expect(await planned([{ type: 'Size', minSize: 10, maxSize: MiB }])).toEqual(['b.MP4', 'sub/d.mp4']);
    expect(await planned([{ type: 'Extension', extensions: ['.mp4'] }])).toEqual(['.hidden.mp4', 'a.mp4', 'b.MP4', 'skip/e.mp4', 'sub/d.mp4']);
    expect(await planned([{ type: 'Extension', extensions: ['TXT'] }])).toEqual(['c.txt']);
    expect(await planned([{ type: 'Path', include: ['**/*.mp4'], exclude: ['skip/**'] }])).toEqual(['.hidden.mp4', 'a.mp4', 'sub/d.mp4']);
    expect(await planned([{ type: 'Path', include: ['*.mp4'] }])).toEqual(['.hidden.mp4', 'a.mp4']);
    expect(await planned([{ type: 'Path', exclude: ['*.txt', 'sub'] }])).toEqual(['.hidden.mp4', 'a.mp4', 'b.MP4', 'skip/e.mp4', 'sub/d.mp4']);
    // The example: only *.mp4 over 1 MiB, outside skip/.
    const combined = [{ type: 'Size', minSize: MiB + 1 }, { type: 'Extension', extensions: ['mp4'] }, { type: 'Path', exclude: ['skip/**'] }];
    expect(await planned(combined)).toEqual(['a.mp4']);
    const run = await runOnce(client(), { mode: { type: 'Full' }, filters: combined, options: { noEmptyDirectories: true }, srcUserSpaceID: src, destUserSpaceIDs: [dst], destPathes: [''] });
    expect(run).toMatchObject({ state: 'Succeeded', filesTotal: 1, filesCopied: 1 });
    expectSameTree(srcRoot, path.join(home, 'filters-dst'), ['a.mp4']);
  });

  it('makes empty source folders at the destination (folders on Local, name/ markers on S3) unless noEmptyDirectories', async () => {
    const srcRoot = path.join(home, 'dirs-src');
    writeTree(srcRoot, { 'x/file.txt': 'f' }, T0);
    for (const d of ['e1', 'x/e2', 'x/e3/e4']) mkdirSync(path.join(srcRoot, ...d.split('/')), { recursive: true });
    const src = await localSpace(client(), 'dirs-src', 'dirs-src');
    const dst = await localSpace(client(), 'dirs-dst', 'dirs-dst');
    const s3id = await s3Space(client(), 'dirs-s3', s3.endpoint, 'sync-s3');
    const without = await runOnce(client(), { options: { noEmptyDirectories: true }, srcUserSpaceID: src, destUserSpaceIDs: [dst], destPathes: ['without'] });
    expect(without.state).toBe('Succeeded');
    expect(existsSync(path.join(home, 'dirs-dst', 'without', 'e1'))).toBe(false);
    expect(existsSync(path.join(home, 'dirs-dst', 'without', 'x', 'e2'))).toBe(false);
    const withDirs = await runOnce(client(), { srcUserSpaceID: src, destUserSpaceIDs: [dst, s3id], destPathes: ['with', 'dirs'] });
    expect(withDirs).toMatchObject({ state: 'Succeeded', filesCopied: 1 });
    for (const d of ['e1', 'x/e2', 'x/e3/e4']) expect(statSync(path.join(home, 'dirs-dst', 'with', ...d.split('/'))).isDirectory()).toBe(true);
    const markers: string[] = [];
    for await (const page of s3Driver.list('dirs/', { folders: true })) markers.push(...page.map((e) => e.key));
    expect(markers).toEqual(['dirs/e1/', 'dirs/x/e2/', 'dirs/x/e3/e4/', 'dirs/x/file.txt']);
    // Both ways: S3 markers become folders on Local.
    const back = await runOnce(client(), { srcUserSpaceID: s3id, srcPath: 'dirs', destUserSpaceIDs: [dst], destPathes: ['back'] });
    expect(back).toMatchObject({ state: 'Succeeded', filesCopied: 1 });
    for (const d of ['e1', 'x/e2', 'x/e3/e4']) expect(statSync(path.join(home, 'dirs-dst', 'back', ...d.split('/'))).isDirectory()).toBe(true);
    expect(readFileSync(path.join(home, 'dirs-dst', 'back', 'x', 'file.txt'), 'utf8')).toBe('f');
  });

  it('deleteSource removes each source file once every destination holds it, keeping the task folder', async () => {
    const srcRoot = path.join(home, 'move-src', 'out');
    writeTree(srcRoot, { 'one.txt': '1', 'two/three.txt': '3' }, T0);
    const src = await localSpace(client(), 'move-src', 'move-src');
    const dst = await localSpace(client(), 'move-dst', 'move-dst');
    const s3id = await s3Space(client(), 'move-s3', s3.endpoint, 'sync-s3');
    const run = await runOnce(client(), { options: { deleteSource: true }, srcUserSpaceID: src, srcPath: 'out', destUserSpaceIDs: [dst, s3id], destPathes: ['', 'moved'] });
    expect(run).toMatchObject({ state: 'Succeeded', filesCopied: 2 });
    expect(filesUnder(srcRoot)).toEqual([]);
    expect(statSync(srcRoot).isDirectory()).toBe(true);
    expect(filesUnder(path.join(home, 'move-dst'))).toEqual(['one.txt', 'two/three.txt']);
    expect((await readAll(await s3Driver.createReadStream('moved/two/three.txt'))).toString()).toBe('3');
  });

  it('deleteExtraneous mirrors (filtered-out files are kept), planTask lists the deletions, and maxDelete stops a run from deleting any', async () => {
    const srcRoot = path.join(home, 'mirror-src');
    writeTree(srcRoot, { 'keep.txt': 'k', 'sub/keep2.txt': 'k2' }, T0);
    const src = await localSpace(client(), 'mirror-src', 'mirror-src');
    const dst = await localSpace(client(), 'mirror-dst', 'mirror-dst');
    const dstRoot = path.join(home, 'mirror-dst');
    const extras = () => writeTree(dstRoot, { 'old1.txt': 'o', 'sub/old2.txt': 'o', 'sub/deeper/old3.txt': 'o', 'notes.log': 'excluded by the filter' });
    extras();
    const base = { filters: [{ type: 'Path', exclude: ['*.log'] }], srcUserSpaceID: src, destUserSpaceIDs: [dst], destPathes: [''] };
    const guarded = await runOnce(client(), { ...base, options: { deleteExtraneous: true, maxDelete: 2 } });
    expect(guarded.state).toBe('Failed');
    expect(guarded.filesCopied).toBe(2);
    expect(guarded.filesDeleted).toBe(0);
    expect(guarded.errors).toEqual([{ path: '', message: expect.stringContaining('maxDelete') }]);
    expect(filesUnder(dstRoot)).toEqual(['keep.txt', 'notes.log', 'old1.txt', 'sub/deeper/old3.txt', 'sub/keep2.txt', 'sub/old2.txt']);

    const plan = (await client().post('/v1/spaceSyncer/planTask', { trigger: { type: 'Once' }, mode: DIFF_SIZE_TIME, ...base, options: { deleteExtraneous: true } })).body.data.plan;
    expect(plan.delete.map((e: any) => e.path)).toEqual(['old1.txt', 'sub/deeper/old3.txt', 'sub/old2.txt']);
    expect(plan.copy).toEqual([]);
    const mirror = await runOnce(client(), { ...base, options: { deleteExtraneous: true, maxDelete: 3 } });
    expect(mirror).toMatchObject({ state: 'Succeeded', filesDeleted: 3, filesCopied: 0, filesSkipped: 2 });
    expect(filesUnder(dstRoot)).toEqual(['keep.txt', 'notes.log', 'sub/keep2.txt']);
  });

  it("isolates tenants on every route: another tenant's task is TaskNotFound, its spaces DataNotFound", async () => {
    writeTree(path.join(home, 'iso-src'), { 'f.txt': 'mine' }, T0);
    const src = await localSpace(client(), 'iso-src', 'iso-src');
    const dst = await localSpace(client(), 'iso-dst', 'iso-dst');
    const task = await createTask(client(), { trigger: { type: 'At', at: [new Date(Date.now() + 3600_000).toISOString()] }, srcUserSpaceID: src, destUserSpaceIDs: [dst], destPathes: [''] });
    const b = await gw.createTenant(`iso-${randomBytes(3).toString('hex')}`);
    const bSpace = (await b.client.post('/v1/userSpace/create', { name: 'b', storage: { type: 'Local', rootDir: 'b' }, credential: { type: 'Local' } })).body.data.userSpace.userSpaceID;
    const missing = 987654;
    for (const taskID of [task.taskID, missing]) {
      const seen = [
        await b.client.get('/v1/spaceSyncer/getTask', { taskID }),
        await b.client.get('/v1/spaceSyncer/getTaskRuns', { taskID }),
        await b.client.post('/v1/spaceSyncer/cancelTask', { taskID }),
      ];
      for (const res of seen) {
        expect(res.status).toBe(404);
        expect(res.body.code).toBe('TaskNotFound');
      }
    }
    expect((await b.client.get('/v1/spaceSyncer/listTasks')).body.data.tasks).toEqual([]);
    const bodies = [
      { srcUserSpaceID: src, destUserSpaceIDs: [bSpace], destPathes: [''] },
      { srcUserSpaceID: bSpace, destUserSpaceIDs: [dst], destPathes: [''] },
      { srcUserSpaceID: bSpace, srcPath: 'in', destUserSpaceIDs: [bSpace, missing], destPathes: ['x', 'y'] },
    ];
    for (const body of bodies)
      for (const route of ['createTask', 'planTask']) {
        const res = await b.client.post(`/v1/spaceSyncer/${route}`, { trigger: { type: 'Once' }, mode: { type: 'Full' }, srcPath: '', ...body });
        expect({ route, code: res.body.code, status: res.status }).toEqual({ route, code: 'DataNotFound', status: 404 });
      }
    // The owner still sees and controls it.
    expect((await client().get('/v1/spaceSyncer/getTask', { taskID: task.taskID })).body.data.task).toMatchObject({ taskID: task.taskID, state: 'Scheduled' });
    expect((await client().post('/v1/spaceSyncer/cancelTask', { taskID: task.taskID })).body).toMatchObject({ code: 'OK', data: null });
    expect((await client().get('/v1/spaceSyncer/getTask', { taskID: task.taskID })).body.data.task.state).toBe('Cancelled');
  });

  it('refuses bad input with BadArgument and schedules nothing', async () => {
    const src = await localSpace(client(), 'bad-src', 'bad-src');
    const dst = await localSpace(client(), 'bad-dst', 'bad-dst');
    const ok = { trigger: { type: 'Once' }, mode: { type: 'Full' }, filters: [], srcUserSpaceID: src, srcPath: '', destUserSpaceIDs: [dst], destPathes: [''] };
    const before = (await client().get('/v1/spaceSyncer/listTasks')).body.data.tasks.length;
    const bad: [string, Record<string, unknown>][] = [
      ['length mismatch', { destUserSpaceIDs: [dst, dst], destPathes: ['a'] }],
      ['no destination', { destUserSpaceIDs: [], destPathes: [] }],
      ['zero interval', { trigger: { type: 'Interval', interval: 0 } }],
      ['negative interval', { trigger: { type: 'Interval', interval: -5 } }],
      ['fractional interval', { trigger: { type: 'Interval', interval: 1.5 } }],
      ['string interval', { trigger: { type: 'Interval', interval: '10' } }],
      ['a time in the past', { trigger: { type: 'At', at: ['2001-01-01T00:00:00Z'] } }],
      ['a time that is not RFC 3339', { trigger: { type: 'At', at: ['tomorrow'] } }],
      ['unknown trigger', { trigger: { type: 'Cron', cron: '* * * * *' } }],
      ['unknown mode', { mode: { type: 'Mirror' } }],
      ['no mode', { mode: undefined }],
      ['unknown filter', { filters: [{ type: 'Age', maxAge: 3 }] }],
      ['bad glob', { filters: [{ type: 'Path', include: ['[abc'] }] }],
      ['empty glob', { filters: [{ type: 'Path', include: [''] }] }],
      ['negative size', { filters: [{ type: 'Size', minSize: -1 }] }],
      ['min above max', { filters: [{ type: 'Size', minSize: 10, maxSize: 5 }] }],
      ['empty extension', { filters: [{ type: 'Extension', extensions: ['.'] }] }],
      ['srcPath escaping the space', { srcPath: '../other' }],
      ['absolute srcPath', { srcPath: '/etc' }],
      ['destPath escaping the space', { destPathes: ['a/../../b'] }],
      ['destination inside the source', { destUserSpaceIDs: [src], destPathes: ['x'] }],
      ['destination in the shard area', { destPathes: ['.jcs/shards/x'] }],
      ['unknown option', { options: { dryRun: true } }],
      ['zero concurrency', { options: { concurrency: 0 } }],
      ['bad window', { options: { window: { start: '25:00', end: '06:00' } } }],
      ['unknown time zone', { options: { window: { start: '22:00', end: '06:00', timeZone: 'Mars/Olympus' } } }],
      ['non-integer space ID', { srcUserSpaceID: 'one' }],
    ];
    for (const [label, change] of bad) {
      for (const route of ['createTask', 'planTask']) {
        const res = await client().post(`/v1/spaceSyncer/${route}`, { ...ok, ...change });
        expect({ label, route, status: res.status, code: res.body.code }).toEqual({ label, route, status: 400, code: 'BadArgument' });
      }
    }
    for (const [q, res] of [
      ['abc', await client().get('/v1/spaceSyncer/getTask', { taskID: 'abc' })],
      ['-1', await client().post('/v1/spaceSyncer/cancelTask', { taskID: -1 })],
    ] as const)
      expect({ q, code: res.body.code }).toEqual({ q, code: 'BadArgument' });
    expect((await client().get('/v1/spaceSyncer/listTasks')).body.data.tasks.length).toBe(before);
  });
});

function rmTree(root: string): void {
  rmSync(root, { recursive: true, force: true });
  mkdirSync(root, { recursive: true });
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}
