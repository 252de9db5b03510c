import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
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
  getRuns,
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
    for (const [rel, content] of Object.entries(tree())) void content;
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
  });
});

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}
