import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { GarbageCollector } from '#garbage-collector';
import { PROCESS_INSTANCE_ID } from '#shard-store';
import { startWorker } from '#worker';
import { startTestGateway, type Tenant, type TestGateway } from './support/gateway.js';
import { download, fullHashOf, newPackage, uploadFiles, uploadForm } from './support/objects.js';

describe('garbage collection', () => {
  let gw: TestGateway;
  let a: Tenant;
  let pkg: number;
  let gc: GarbageCollector;
  let shardsDir: string;

  beforeAll(async () => {
    // Read grace 0 too: no read runs in these tests, and they expect a shard to go in the run that finds it.
    gw = await startTestGateway({ JCS_GC_GRACE_SECONDS: '0', JCS_GC_READ_GRACE_SECONDS: '0', JCS_MULTIPART_MAX_AGE_SECONDS: '3600' });
    a = await gw.tenant();
    pkg = await newPackage(a);
    gc = gw.app.get(GarbageCollector);
    shardsDir = path.join(gw.dataDir, 'tenants', String(a.userID), 'shards');
  });
  afterAll(async () => gw?.stop());

  const shardFile = (b: Buffer) => {
    const h = fullHashOf(b);
    return path.join(shardsDir, 'blocks', h.slice(4, 6), h);
  };

  it('removes exactly the unreferenced shards', async () => {
    const kept = randomBytes(1000);
    const overwritten = randomBytes(1001);
    const replacement = randomBytes(1002);
    const deleted = randomBytes(1003);
    const shared = randomBytes(1004);
    const up = await uploadFiles(a, pkg, [
      ['gc/kept', kept],
      ['gc/over', overwritten],
      ['gc/deleted', deleted],
      ['gc/shared-1', shared],
      ['gc/shared-2', shared],
    ]);
    const ids = Object.fromEntries(up.body.data.uploadeds.map((o: any) => [o.path, o.objectID]));
    await uploadFiles(a, pkg, [['gc/over', replacement]]);
    await a.client.post('/v1/object/delete', { objectIDs: [ids['gc/deleted'], ids['gc/shared-1']] });
    for (const b of [kept, overwritten, replacement, deleted, shared]) expect(existsSync(shardFile(b))).toBe(true);

    const report = await gc.run();
    expect(report.removedShards).toBeGreaterThanOrEqual(2);
    expect(existsSync(shardFile(overwritten))).toBe(false);
    expect(existsSync(shardFile(deleted))).toBe(false);
    for (const b of [kept, replacement, shared]) expect(existsSync(shardFile(b))).toBe(true);
    expect((await download(a, { objectID: ids['gc/kept'] })).bytes.equals(kept)).toBe(true);
    expect((await download(a, { objectID: ids['gc/shared-2'] })).bytes.equals(shared)).toBe(true);
    expect((await download(a, { objectID: ids['gc/over'] })).bytes.equals(replacement)).toBe(true);
    const rows = await gw.sql('SELECT file_hash FROM shards WHERE file_hash = ANY($1)', [[overwritten, deleted].map(fullHashOf)]);
    expect(rows).toEqual([]);
  });

  it('keeps shards younger than the grace period', async () => {
    const gw2 = await startTestGateway({ JCS_GC_GRACE_SECONDS: '3600' });
    try {
      const t = await gw2.tenant();
      const p = await newPackage(t);
      const data = randomBytes(777);
      const obj = (await uploadFiles(t, p, [['young', data]])).body.data.uploadeds[0];
      await t.client.post('/v1/object/delete', { objectIDs: [obj.objectID] });
      const report = await gw2.app.get(GarbageCollector).run();
      expect(report.removedShards).toBe(0);
      expect(await gw2.sql('SELECT 1 FROM shards')).toHaveLength(1);
    } finally {
      await gw2.stop();
    }
  });

  it('removes abandoned temp files but not fresh ones', async () => {
    const tmp = path.join(shardsDir, 'tmp');
    mkdirSync(tmp, { recursive: true });
    writeFileSync(path.join(tmp, 'abandoned'), 'x');
    const old = new Date(Date.now() - 10_000);
    utimesSync(path.join(tmp, 'abandoned'), old, old);
    await gc.run();
    expect(existsSync(path.join(tmp, 'abandoned'))).toBe(false);
  });

  it("sweeps a crashed instance's temp files at once, a live one's only after the temp grace", async () => {
    const tmp = path.join(shardsDir, 'tmp');
    const old = new Date(Date.now() - 10_000);
    const put = (instance: string) => {
      mkdirSync(path.join(tmp, instance), { recursive: true });
      const f = path.join(tmp, instance, `leftover-${randomBytes(4).toString('hex')}`);
      writeFileSync(f, 'partial');
      utimesSync(f, old, old);
      return f;
    };
    const neverRegistered = put('0123456789abcdef01234567');
    const stale = put('fedcba9876543210fedcba98');
    await gw.sql(`INSERT INTO gateway_instances (instance_id, heartbeat_time) VALUES ($1, now() - interval '1 hour')`, ['fedcba9876543210fedcba98']);
    const mine = put(PROCESS_INSTANCE_ID); // this process is alive: its temp file may be an upload in flight
    await gc.run();
    expect([existsSync(neverRegistered), existsSync(stale), existsSync(mine)]).toEqual([false, false, true]);
  });

  it('never removes the temp files of an unfinished upload, streaming or staged for its batch', async () => {
    const done = randomBytes(5000);
    const slow = new PassThrough();
    const pending = uploadFiles(a, pkg, [
      ['gc/inflight-1', done],
      ['gc/inflight-2', () => slow],
    ]);
    const tail = randomBytes(3000);
    slow.write(tail.subarray(0, 1000));
    // The first file is staged (waiting for the batch), the second is streaming: collect meanwhile.
    for (let i = 0; i < 5; i++) {
      await gc.run();
      await new Promise((r) => setTimeout(r, 100));
    }
    slow.end(tail.subarray(1000));
    const res = await pending;
    expect(res.body.code).toBe('OK');
    const ids = res.body.data.uploadeds.map((o: any) => o.objectID);
    expect((await download(a, { objectID: ids[0] })).bytes.equals(done)).toBe(true);
    expect((await download(a, { objectID: ids[1] })).bytes.equals(tail)).toBe(true);
  });

  it('an upload of content the collector is deleting waits for it, then stores the shard anew', async () => {
    const data = randomBytes(4321);
    const first = (await uploadFiles(a, pkg, [['gc/busy-1', data]])).body.data.uploadeds[0];
    await a.client.post('/v1/object/delete', { objectIDs: [first.objectID] });
    // As the collector leaves it mid-run: row marked deleting, file already gone.
    await gw.sql(`UPDATE shards SET deleting_since = now() WHERE file_hash = $1`, [fullHashOf(data)]);
    rmSync(shardFile(data));
    let answered = false;
    const pending = uploadFiles(a, pkg, [['gc/busy-2', data]]).then((r) => ((answered = true), r));
    await new Promise((r) => setTimeout(r, 500));
    expect(answered).toBe(false); // waiting, not deduplicating onto the file being deleted
    await gw.sql(`DELETE FROM shards WHERE file_hash = $1`, [fullHashOf(data)]); // the collector finishes
    const res = await pending;
    expect(res.body.code).toBe('OK');
    expect((await download(a, { objectID: res.body.data.uploadeds[0].objectID })).bytes.equals(data)).toBe(true);
    expect(await gw.sql(`SELECT deleting_since FROM shards WHERE file_hash = $1`, [fullHashOf(data)])).toEqual([{ deleting_since: null }]);
  });

  it('takes over a deleting mark left by a collector that died', async () => {
    const data = randomBytes(1234);
    const first = (await uploadFiles(a, pkg, [['gc/stale-1', data]])).body.data.uploadeds[0];
    await a.client.post('/v1/object/delete', { objectIDs: [first.objectID] });
    await gw.sql(`UPDATE shards SET deleting_since = now() - interval '1 day' WHERE file_hash = $1`, [fullHashOf(data)]);
    rmSync(shardFile(data));
    const res = await uploadFiles(a, pkg, [['gc/stale-2', data]]);
    expect(res.body.code).toBe('OK');
    expect((await download(a, { objectID: res.body.data.uploadeds[0].objectID })).bytes.equals(data)).toBe(true);
  });

  it('aborts multipart uploads older than the configured age and releases their parts', async () => {
    const open = (await a.client.post('/v1/object/newMultipartUpload', { packageID: pkg, path: 'gc/mpu' })).body.data.object;
    const part = randomBytes(2048);
    const res = await uploadForm(a, '/v1/object/uploadPart', [
      { name: 'info', value: JSON.stringify({ objectID: open.objectID, index: 0 }) },
      { name: 'file', filename: 'part0', data: part },
    ]);
    expect(res.body.code).toBe('OK');
    await gc.run();
    expect(existsSync(shardFile(part))).toBe(true); // young upload: kept
    await gw.sql(`UPDATE objects SET update_time = now() - interval '2 hours' WHERE object_id = $1`, [open.objectID]);
    const report = await gc.run();
    expect(report.abortedUploads).toBe(1);
    expect(existsSync(shardFile(part))).toBe(false);
    expect((await download(a, { objectID: open.objectID })).status).toBe(404);
  });

  it('runs periodically as a BullMQ job on the worker', async () => {
    const data = randomBytes(3333);
    const obj = (await uploadFiles(a, pkg, [['gc/by-worker', data]])).body.data.uploadeds[0];
    await a.client.post('/v1/object/delete', { objectIDs: [obj.objectID] });
    const worker = await startWorker({ ...gw.config, JCS_GC_INTERVAL_SECONDS: 1 }, gw.masterKey);
    try {
      const deadline = Date.now() + 20_000;
      while (existsSync(shardFile(data)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
      expect(existsSync(shardFile(data))).toBe(false);
    } finally {
      await worker.close();
    }
  });
});
