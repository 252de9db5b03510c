import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash, randomBytes } from 'node:crypto';
import { renameSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { startTestGateway, type Tenant, type TestGateway } from './support/gateway.js';
import { download, fullHashOf, newPackage, uploadFiles, uploadForm } from './support/objects.js';
import { compositeHashOf, uploadPart } from './support/objects-extra.js';

/** newMultipartUpload, uploadPart and completeMultipartUpload (spec §5), end to end. */
describe('objects: multipart upload', () => {
  let gw: TestGateway;
  let a: Tenant;
  let pkg: number;
  const MISSING = 987654321;

  beforeAll(async () => {
    // A small parts limit, so the limit on a completion's index list can be tested cheaply.
    gw = await startTestGateway({ JCS_MAX_PARTS: '6' });
    a = await gw.tenant();
    pkg = await newPackage(a);
  });
  afterAll(async () => gw?.stop());

  const open = async (path: string) => {
    const res = await a.client.post('/v1/object/newMultipartUpload', { packageID: pkg, path });
    expect([res.status, res.body.code]).toEqual([200, 'OK']);
    return res.body.data.object;
  };
  const complete = (objectID: number, indexes: unknown) => a.client.post('/v1/object/completeMultipartUpload', { objectID, indexes });
  const current = async (path: string) => {
    const objects = (await a.client.get('/v1/object/listByPath', { packageID: pkg, path })).body.data.objects;
    expect(objects).toHaveLength(1);
    return objects[0];
  };
  const partRows = (objectID: number) =>
    gw.sql('SELECT part_index, file_hash, size::int AS size FROM multipart_parts WHERE object_id = $1 ORDER BY part_index', [objectID]);
  const expectError = (r: { status: number; body: any }, status: number, code: string) => expect([r.status, r.body.code]).toEqual([status, code]);

  describe('one upload from start to finish', () => {
    let obj: any;
    // Sizes chosen so parts straddle busboy's and the reader's chunk sizes.
    const parts = new Map<number, Buffer>();

    it('opens with size "0", an empty Comp hash and redundancy multipartUpload, and is listed', async () => {
      obj = await open('mp/big.bin');
      expect(obj).toEqual({
        objectID: expect.any(Number),
        packageID: pkg,
        path: 'mp/big.bin',
        size: '0',
        fileHash: compositeHashOf([]),
        redundancy: { type: 'multipartUpload' },
        createTime: expect.any(String),
        updateTime: expect.any(String),
      });
      expect(obj.fileHash).toMatch(/^Comp[0-9A-F]{64}$/);
      expect(await current('mp/big.bin')).toEqual(obj);
      const listed = await a.client.get('/v1/object/listByPath', { packageID: pkg, path: 'mp/', isPrefix: true, noRecursive: true });
      expect(listed.body.data.objects).toEqual([obj]);
      expect((await a.client.get('/v1/object/getPackageObjects', { packageID: pkg })).body.data.objects).toContainEqual(obj);
    });

    it('cannot be downloaded while open: an error envelope, not bytes', async () => {
      for (const [q, route] of [
        [{ objectID: obj.objectID }, 'download'],
        [{ packageID: pkg, path: 'mp/big.bin' }, 'downloadByPath'],
      ] as const) {
        const r = await download(a, q, {}, route);
        expect(r.status).toBeGreaterThanOrEqual(400);
        expect(r.headers.get('content-type')).toMatch(/^application\/json/);
        expect(r.json()).toEqual({ code: expect.not.stringMatching(/^OK$/), message: expect.any(String), data: null });
      }
    });

    it('each part answers OK; the hash is Comp over the part digests in index order, whatever the upload order', async () => {
      for (const [index, size] of [
        [2, 1_500_000],
        [0, 65_537],
        [1, 1],
      ] as const) {
        const data = randomBytes(size);
        const res = await uploadPart(a, obj.objectID, index, data);
        expect([res.status, res.body]).toEqual([200, { code: 'OK', message: '', data: null }]);
        parts.set(index, data);
        const inIndexOrder = [...parts.keys()].sort((x, y) => x - y).map((i) => parts.get(i)!);
        const now = await current('mp/big.bin');
        expect(now.fileHash).toBe(compositeHashOf(inIndexOrder));
        expect(now.redundancy).toEqual({ type: 'multipartUpload' });
        expect(now.objectID).toBe(obj.objectID);
      }
      expect(compositeHashOf([parts.get(0)!, parts.get(1)!, parts.get(2)!])).not.toBe(compositeHashOf([parts.get(2)!, parts.get(0)!, parts.get(1)!]));
    });

    it('the same index again replaces the part', async () => {
      const replaced = parts.get(0)!;
      const again = randomBytes(70_001);
      expect((await uploadPart(a, obj.objectID, 0, again)).body.code).toBe('OK');
      parts.set(0, again);
      expect((await current('mp/big.bin')).fileHash).toBe(compositeHashOf([parts.get(0)!, parts.get(1)!, parts.get(2)!]));
      expect(await partRows(obj.objectID)).toEqual(
        [0, 1, 2].map((i) => ({ part_index: i, file_hash: fullHashOf(parts.get(i)!), size: parts.get(i)!.length })),
      );
      expect((await partRows(obj.objectID)).map((r: any) => r.file_hash)).not.toContain(fullHashOf(replaced));
    });

    it('an empty or unknown index list is BadArgument and leaves the upload open and whole', async () => {
      for (const indexes of [[], [7], [0, 7], [-1], ['0'], [0.5], 'x', null]) {
        const r = await complete(obj.objectID, indexes);
        expect({ indexes, status: r.status, code: r.body.code }).toEqual({ indexes, status: 400, code: 'BadArgument' });
      }
      expect(await partRows(obj.objectID)).toHaveLength(3);
      expect((await current('mp/big.bin')).redundancy).toEqual({ type: 'multipartUpload' });
      expectError(await complete(MISSING, [0]), 404, 'DataNotFound');
    });

    it('completes [2, 0, 2]: parts joined in the order given, part 1 dropped', async () => {
      const whole = Buffer.concat([parts.get(2)!, parts.get(0)!, parts.get(2)!]);
      const res = await complete(obj.objectID, [2, 0, 2]);
      expect([res.status, res.body.code, res.body.message]).toEqual([200, 'OK', '']);
      const done = res.body.data.object;
      expect(done).toEqual({
        objectID: obj.objectID,
        packageID: pkg,
        path: 'mp/big.bin',
        size: String(whole.length),
        fileHash: fullHashOf(whole),
        // Only spec §5 types reach clients: one copy of each part is `none`.
        redundancy: { type: 'none' },
        createTime: obj.createTime,
        updateTime: expect.any(String),
      });
      expect(await current('mp/big.bin')).toEqual(done);
      // The block layout stays internal: the row keeps its segments.
      const [row] = await gw.sql('SELECT redundancy FROM objects WHERE object_id = $1', [obj.objectID]);
      expect(row.redundancy).toEqual({ type: 'segment', segments: [parts.get(2)!.length, parts.get(0)!.length, parts.get(2)!.length] });
      // Every route that shows the object shows the wire type.
      const listed = (await a.client.get('/v1/object/listByPath', { packageID: pkg, path: 'mp/', isPrefix: true })).body.data.objects;
      expect(listed.find((o: any) => o.objectID === obj.objectID)).toEqual(done);
      const all = (await a.client.get('/v1/object/getPackageObjects', { packageID: pkg })).body.data.objects;
      expect(all.find((o: any) => o.objectID === obj.objectID)).toEqual(done);
      const cloned = (await a.client.post('/v1/object/clone', { clonings: [{ objectID: obj.objectID, newPath: 'mp/big-clone.bin', newPackageID: pkg }] })).body
        .data.objects[0];
      expect(cloned).toEqual({ ...done, objectID: expect.any(Number), path: 'mp/big-clone.bin', createTime: expect.any(String), updateTime: expect.any(String) });
      await a.client.post('/v1/object/delete', { objectIDs: [cloned.objectID] });
      expect(await partRows(obj.objectID)).toEqual([]);
      // Part 1's shard is still recorded but nothing references it any more (the collector's to take).
      const dropped = fullHashOf(parts.get(1)!);
      expect(await gw.sql('SELECT 1 FROM shards WHERE file_hash = $1', [dropped])).toHaveLength(1);
      expect(await gw.sql('SELECT 1 FROM object_blocks WHERE file_hash = $1 UNION ALL SELECT 1 FROM multipart_parts WHERE file_hash = $1', [dropped])).toEqual([]);

      const got = await download(a, { objectID: obj.objectID });
      expect([got.status, got.headers.get('content-length'), got.headers.get('etag')]).toEqual([200, String(whole.length), `"${done.fileHash}"`]);
      expect(got.bytes.equals(whole)).toBe(true);
      const byPath = await download(a, { packageID: pkg, path: 'mp/big.bin' }, {}, 'downloadByPath');
      expect(byPath.bytes.equals(whole)).toBe(true);
    });

    it('ranges across part boundaries are exact (offset/length and Range)', async () => {
      const whole = Buffer.concat([parts.get(2)!, parts.get(0)!, parts.get(2)!]);
      const b1 = parts.get(2)!.length; // first boundary
      const b2 = b1 + parts.get(0)!.length; // second boundary
      for (const [offset, length] of [
        [b1 - 1, 2],
        [b1 - 10, parts.get(0)!.length + 20], // spans all three segments
        [b1, parts.get(0)!.length],
        [b2 - 1, 1],
        [b2, whole.length - b2],
        [0, whole.length],
      ]) {
        const r = await download(a, { objectID: obj.objectID, offset: offset!, length: length! });
        expect([r.status, r.bytes.length]).toEqual([200, length]);
        expect(r.bytes.equals(whole.subarray(offset, offset! + length!))).toBe(true);
      }
      for (const [range, start, end] of [
        [`bytes=${b1 - 3}-${b2 + 3}`, b1 - 3, b2 + 3],
        [`bytes=${b2 - 5}-`, b2 - 5, whole.length - 1],
        [`bytes=-${whole.length - b1 + 7}`, b1 - 7, whole.length - 1],
      ] as const) {
        const r = await download(a, { objectID: obj.objectID }, { range });
        expect([r.status, r.headers.get('content-range'), r.headers.get('content-length')]).toEqual([
          206,
          `bytes ${start}-${end}/${whole.length}`,
          String(end - start + 1),
        ]);
        expect(r.bytes.equals(whole.subarray(start, end + 1))).toBe(true);
      }
    });

    it('completing again, or uploading a part to it, is OperationFailed', async () => {
      expectError(await complete(obj.objectID, [0]), 500, 'OperationFailed');
      expectError(await uploadPart(a, obj.objectID, 3, randomBytes(10)), 500, 'OperationFailed');
      expect(await partRows(obj.objectID)).toEqual([]);
    });
  });

  it('complete or uploadPart on a normal object is OperationFailed and changes nothing', async () => {
    const data = randomBytes(5000);
    const normal = (await uploadFiles(a, pkg, [['mp/normal', data]])).body.data.uploadeds[0];
    expectError(await complete(normal.objectID, [0]), 500, 'OperationFailed');
    expectError(await uploadPart(a, normal.objectID, 0, randomBytes(10)), 500, 'OperationFailed');
    expect(await current('mp/normal')).toEqual(normal);
    expect((await download(a, { objectID: normal.objectID })).bytes.equals(data)).toBe(true);
    expect(await partRows(normal.objectID)).toEqual([]);
  });

  it('a malformed uploadPart form is BadArgument and leaves the parts as they were', async () => {
    const obj = await open('mp/forms');
    const first = randomBytes(100);
    expect((await uploadPart(a, obj.objectID, 0, first)).body.code).toBe('OK');
    const before = (await current('mp/forms')).fileHash;
    const info = (v: unknown) => ({ name: 'info', value: typeof v === 'string' ? v : JSON.stringify(v) });
    const file = (data = randomBytes(10)) => ({ name: 'file', filename: 'part', data });
    const cases: Array<[string, Parameters<typeof uploadForm>[2]]> = [
      ['no info', [file()]],
      ['info after the file', [file(), info({ objectID: obj.objectID, index: 0 })]],
      ['no file', [info({ objectID: obj.objectID, index: 0 })]],
      ['two files', [info({ objectID: obj.objectID, index: 0 }), file(), file()]],
      ['info not JSON', [info('{objectID'), file()]],
      ['info not an object', [info([obj.objectID, 0]), file()]],
      ['index missing', [info({ objectID: obj.objectID }), file()]],
      ['index negative', [info({ objectID: obj.objectID, index: -1 }), file()]],
      ['index fractional', [info({ objectID: obj.objectID, index: 0.5 }), file()]],
      ['index a string', [info({ objectID: obj.objectID, index: '0' }), file()]],
      ['index too large', [info({ objectID: obj.objectID, index: 2 ** 31 }), file()]],
      ['objectID missing', [info({ index: 0 }), file()]],
      ['objectID a string', [info({ objectID: String(obj.objectID), index: 0 }), file()]],
    ];
    for (const [what, parts] of cases) {
      const r = await uploadForm(a, '/v1/object/uploadPart', parts);
      expect({ what, status: r.status, code: r.body.code }).toEqual({ what, status: 400, code: 'BadArgument' });
    }
    const notForm = await a.client.post('/v1/object/uploadPart', { objectID: obj.objectID, index: 0 });
    expectError(notForm, 400, 'BadArgument');
    expectError(await uploadPart(a, MISSING, 0, randomBytes(10)), 404, 'DataNotFound');
    expect(await partRows(obj.objectID)).toEqual([{ part_index: 0, file_hash: fullHashOf(first), size: 100 }]);
    expect((await current('mp/forms')).fileHash).toBe(before);
    expect(before).toBe(compositeHashOf([first]));
  });

  it('empty parts and the largest index work; an all-empty upload completes to the empty object', async () => {
    const obj = await open('mp/empty');
    const last = 2 ** 31 - 1;
    expect((await uploadPart(a, obj.objectID, last, Buffer.alloc(0))).body.code).toBe('OK');
    expect((await uploadPart(a, obj.objectID, 0, Buffer.alloc(0))).body.code).toBe('OK');
    expect((await current('mp/empty')).fileHash).toBe(compositeHashOf([Buffer.alloc(0), Buffer.alloc(0)]));
    const done = (await complete(obj.objectID, [last, 0])).body.data.object;
    expect(done).toEqual(expect.objectContaining({ size: '0', fileHash: fullHashOf(Buffer.alloc(0)), redundancy: { type: 'none' } }));
    const got = await download(a, { objectID: obj.objectID });
    expect([got.status, got.bytes.length]).toEqual([200, 0]);
  });

  it('concurrent parts all land, and the hash covers every one of them', async () => {
    const obj = await open('mp/concurrent');
    const parts = Array.from({ length: 6 }, (_, i) => randomBytes(1000 + i));
    const answers = await Promise.all(parts.map((d, i) => uploadPart(a, obj.objectID, i, d)));
    for (const r of answers) expect(r.body.code).toBe('OK');
    expect((await current('mp/concurrent')).fileHash).toBe(compositeHashOf(parts));
    expect(await partRows(obj.objectID)).toHaveLength(6);
  });

  it('parts and completion lists are bounded by JCS_MAX_PARTS, repeats included', async () => {
    const obj = await open('mp/limits');
    for (let i = 0; i < 6; i++) expect((await uploadPart(a, obj.objectID, i * 10, randomBytes(10))).body.code).toBe('OK');
    expectError(await uploadPart(a, obj.objectID, 99, randomBytes(10)), 400, 'BadArgument');
    expect((await uploadPart(a, obj.objectID, 50, randomBytes(11))).body.code).toBe('OK'); // a replacement is no new part
    expectError(await complete(obj.objectID, [0, 0, 0, 0, 0, 0, 0]), 400, 'BadArgument');
    expect((await current('mp/limits')).redundancy).toEqual({ type: 'multipartUpload' });
    const done = await complete(obj.objectID, [0, 0, 0, 0, 0, 0]);
    expect(done.body.data.object.size).toBe('60');
  });

  it('an empty part between two others: ranges across it are exact', async () => {
    const obj = await open('mp/gap');
    const [p0, p1, p2] = [randomBytes(777), Buffer.alloc(0), randomBytes(555)];
    for (const [i, d] of [p0, p1, p2].entries()) expect((await uploadPart(a, obj.objectID, i, d!)).body.code).toBe('OK');
    const done = (await complete(obj.objectID, [0, 1, 2])).body.data.object;
    expect(done.redundancy).toEqual({ type: 'none' });
    const whole = Buffer.concat([p0!, p2!]);
    expect((await download(a, { objectID: obj.objectID })).bytes.equals(whole)).toBe(true);
    const r = await download(a, { objectID: obj.objectID }, { range: 'bytes=770-780' });
    expect([r.status, r.headers.get('content-range'), r.bytes.equals(whole.subarray(770, 781))]).toEqual([206, 'bytes 770-780/1332', true]);
  });

  it('a single part completes to exactly its bytes', async () => {
    const obj = await open('mp/single');
    const data = randomBytes(12345);
    expect((await uploadPart(a, obj.objectID, 5, data)).body.code).toBe('OK');
    const done = (await complete(obj.objectID, [5])).body.data.object;
    expect(done).toEqual(expect.objectContaining({ size: '12345', fileHash: fullHashOf(data), redundancy: { type: 'none' } }));
    expect((await download(a, { objectID: obj.objectID })).bytes.equals(data)).toBe(true);
  });

  it('newMultipartUpload: a missing package is DataNotFound, a bad path or body BadArgument', async () => {
    expectError(await a.client.post('/v1/object/newMultipartUpload', { packageID: MISSING, path: 'x' }), 404, 'DataNotFound');
    for (const path of ['', '/x', 'a//b', 'a/', '..', 'nul\u0000', 5]) {
      expectError(await a.client.post('/v1/object/newMultipartUpload', { packageID: pkg, path }), 400, 'BadArgument');
    }
    expectError(await a.client.post('/v1/object/newMultipartUpload', { packageID: String(pkg), path: 'x' }), 400, 'BadArgument');
    expect((await a.client.get('/v1/object/listByPath', { packageID: pkg, path: 'x' })).body.data.objects).toEqual([]);
  });
});

/** completeMultipartUpload does bounded work: the size limit before any byte, and no work for a client gone. */
describe('objects: multipart completion, bounded work', () => {
  const MiB = 1024 * 1024;
  let gw: TestGateway;
  let a: Tenant;
  let pkg: number;

  beforeAll(async () => {
    gw = await startTestGateway({ JCS_MAX_PARTS: '6', JCS_MAX_OBJECT_SIZE: String(300 * MiB) });
    a = await gw.tenant();
    pkg = await newPackage(a);
  });
  afterAll(async () => gw?.stop());

  const state = async (objectID: number) =>
    (await gw.sql('SELECT redundancy->>\'type\' AS type, (SELECT count(*)::int FROM multipart_parts p WHERE p.object_id = o.object_id) AS parts FROM objects o WHERE object_id = $1', [objectID]))[0];

  /** Sends a signed completion and closes the connection without reading the answer. */
  async function completeAndLeave(objectID: number, indexes: number[]) {
    const body = JSON.stringify({ objectID, indexes });
    const { init } = await a.client.signedRequest({ method: 'POST', path: '/v1/object/completeMultipartUpload', body, headers: { 'content-type': 'application/json' } });
    const { hostname, port, host } = new URL(gw.url);
    const head = Object.entries({ host, ...(init.headers as Record<string, string>), 'content-length': String(Buffer.byteLength(body)) })
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('');
    const socket = net.connect(Number(port), hostname);
    socket.on('error', () => undefined);
    await new Promise<void>((r) => socket.write(`POST /v1/object/completeMultipartUpload HTTP/1.1\r\n${head}\r\n${body}`, () => r()));
    // Long enough for the gateway to be hashing (a quarter GiB), far shorter than the hashing itself.
    await new Promise((r) => setTimeout(r, 100));
    socket.destroy();
  }

  it('a joined size over JCS_MAX_OBJECT_SIZE (through repeated indexes) is QuotaExceeded before any byte is read', async () => {
    const obj = (await a.client.post('/v1/object/newMultipartUpload', { packageID: pkg, path: 'bound/quota' })).body.data.object;
    const part = randomBytes(64 * MiB);
    expect((await uploadPart(a, obj.objectID, 0, part)).body.code).toBe('OK');
    // The part's shard is taken away: a completion that read (or even checked) it would fail otherwise.
    const hash = fullHashOf(part);
    const file = path.join(gw.dataDir, 'tenants', String(a.userID), 'shards/blocks', hash.slice(4, 6), hash);
    renameSync(file, file + '.away');
    try {
      const r = await a.client.post('/v1/object/completeMultipartUpload', { objectID: obj.objectID, indexes: [0, 0, 0, 0, 0] }); // 320 MiB
      expect([r.status, r.body.code]).toEqual([413, 'QuotaExceeded']);
    } finally {
      renameSync(file + '.away', file);
    }
    expect(await state(obj.objectID)).toEqual({ type: 'multipartUpload', parts: 1 });
    const ok = await a.client.post('/v1/object/completeMultipartUpload', { objectID: obj.objectID, indexes: [0, 0, 0, 0] }); // 256 MiB
    expect([ok.status, ok.body.code, ok.body.data?.object.size]).toEqual([200, 'OK', String(256 * MiB)]);
  });

  it('a client that goes away mid-completion: the hashing stops and nothing is committed', async () => {
    const obj = (await a.client.post('/v1/object/newMultipartUpload', { packageID: pkg, path: 'bound/gone' })).body.data.object;
    const part = randomBytes(64 * MiB);
    expect((await uploadPart(a, obj.objectID, 0, part)).body.code).toBe('OK');
    await completeAndLeave(obj.objectID, [0, 0, 0, 0]);
    // Had the gateway gone on, it would commit within a second or so here; watch well past that.
    for (let i = 0; i < 20; i++) {
      expect(await state(obj.objectID)).toEqual({ type: 'multipartUpload', parts: 1 });
      await new Promise((r) => setTimeout(r, 250));
    }
    // The upload is intact: a completion that stays completes, with the hash of the joined bytes.
    const whole = createHash('sha256');
    for (let i = 0; i < 4; i++) whole.update(part);
    const ok = await a.client.post('/v1/object/completeMultipartUpload', { objectID: obj.objectID, indexes: [0, 0, 0, 0] });
    expect([ok.status, ok.body.code, ok.body.data?.object.fileHash]).toEqual([200, 'OK', 'Full' + whole.digest('hex').toUpperCase()]);
  });
});
