import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestGateway, type Tenant, type TestGateway } from './support/gateway.js';
import { fullHashOf, newPackage } from './support/objects.js';
import { blockBytes, blockStates, deleteBlock, flipByte, putRedundant, seededBytes, shardSpaces } from './support/redundancy.js';
import { startS3rver, type RunningS3rver } from './support/s3rver.js';
import { S3_CREDENTIAL } from './support/syncer.js';
import { launchWorkerProcess, type WorkerProcess } from './support/worker-process.js';

/**
 * One run mixing Local, S3 and OBS spaces (s3rver), with the real worker: a degraded read marks the
 * damage and queues a repair, the worker's repair processor rebuilds the blocks, and its scrub finds
 * damage nobody reported.
 */
describe('redundancy over Local, S3 and OBS with the worker repairing', () => {
  let gw: TestGateway;
  let s3: RunningS3rver;
  let worker: WorkerProcess;
  let a: Tenant;
  let pkg: number;
  let spaces: number[];

  beforeAll(async () => {
    s3 = await startS3rver({ buckets: ['red-s3', 'red-obs'] });
    gw = await startTestGateway();
    const dbName = new URL(gw.config.DATABASE_URL).pathname.slice(1);
    worker = await launchWorkerProcess(
      { databaseUrl: gw.config.DATABASE_URL, dataDir: gw.dataDir, dbName },
      { JCS_QUEUE_PREFIX: gw.config.JCS_QUEUE_PREFIX, JCS_MASTER_KEY: gw.masterKey.toString('base64'), JCS_SCRUB_INTERVAL_SECONDS: '2', JCS_SCRUB_BYTES_PER_SECOND: '100000000' },
    );
    a = await gw.tenant();
    const s3Storage = (bucket: string) => ({ storage: { type: 'S3', region: 'us-east-1', endpoint: s3.endpoint, bucket, forcePathStyle: true }, credential: S3_CREDENTIAL });
    const obsStorage = (bucket: string) => ({
      storage: { type: 'OBS', region: 'r1', endpoint: s3.endpoint, bucket, projectID: 'p' },
      credential: { type: 'OBS', accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    });
    spaces = await shardSpaces(a, 6, [
      { storage: { type: 'Local', rootDir: 'm-0' }, credential: { type: 'Local' } },
      s3Storage('red-s3'),
      obsStorage('red-obs'),
      { storage: { type: 'Local', rootDir: 'm-3' }, credential: { type: 'Local' } },
      s3Storage('red-s3'),
      obsStorage('red-obs'),
    ]);
    pkg = await newPackage(a);
  });
  afterAll(async () => {
    await worker?.kill('SIGTERM');
    await gw?.stop();
    await s3?.stop();
  });

  async function waitHealthy(objectId: number): Promise<void> {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const states = await blockStates(gw, objectId);
      if (states.every((s) => s.state === 'ok')) return;
      if (Date.now() > deadline) throw new Error(`not repaired: ${JSON.stringify(states)}\n${worker.output()}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  async function expectFilesGood(objectId: number): Promise<void> {
    const rows: any[] = await gw.sql('SELECT index, user_space_id, file_hash, size FROM object_blocks WHERE object_id = $1 ORDER BY index', [objectId]);
    for (const r of rows) {
      const bytes = await blockBytes(gw, { index: r.index, userSpaceId: Number(r.user_space_id), fileHash: r.file_hash, size: Number(r.size) });
      expect(bytes && fullHashOf(bytes)).toBe(r.file_hash);
    }
  }

  it('ec k=4 n=6: a read past a lost S3 block and a corrupt OBS block is exact; the worker repairs both', async () => {
    const data = seededBytes(61, 2_000_000);
    const { objectId, blocks } = await putRedundant(gw, a, pkg, 'mixed/ec.bin', data, { type: 'ec', k: 4, n: 6, chunkSize: 128 * 1024 }, spaces);
    await deleteBlock(gw, blocks[1]!); // S3
    await flipByte(gw, blocks[2]!, 5); // OBS
    const res = await a.client.raw({ method: 'GET', path: '/v1/object/download', query: { objectID: objectId } });
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).equals(data)).toBe(true);
    await waitHealthy(objectId);
    await expectFilesGood(objectId);
  });

  it('rep 3: the scrub finds a corrupt copy nobody read, and the worker repairs it', async () => {
    const data = seededBytes(62, 700_000);
    const { objectId, blocks } = await putRedundant(gw, a, pkg, 'mixed/rep.bin', data, { type: 'rep', repCount: 3 }, spaces.slice(3));
    await flipByte(gw, blocks[2]!, 123_456); // OBS, never read (copy 0 serves reads)
    // The scrub runs every 2 s here: it finds the copy corrupt, and the repair (which moves it to a
    // space holding no copy) leaves the row ok and checked.
    const deadline = Date.now() + 60_000;
    for (;;) {
      const [row] = await gw.sql(`SELECT checked_at, state, user_space_id FROM object_blocks WHERE object_id = $1 AND index = 2`, [objectId]);
      if (row.checked_at !== null && row.state === 'ok') break;
      if (Date.now() > deadline) throw new Error(`scrub did not check the block: ${JSON.stringify(row)}\n${worker.output()}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    await waitHealthy(objectId);
    await expectFilesGood(objectId);
  });
});
