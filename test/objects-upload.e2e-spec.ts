import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash, randomBytes } from 'node:crypto';
import path from 'node:path';
import { Readable } from 'node:stream';
import { GarbageCollector } from '#garbage-collector';
import { filesUnder } from './support/contract.js';
import { startTestGateway, type Tenant, type TestGateway } from './support/gateway.js';
import { multipartBody, pseudoRandomStream } from './support/multipart.js';
import { download, fullHashOf, hashStream, newPackage, uploadFiles, uploadForm } from './support/objects.js';

describe('objects: upload and download (spec §5)', () => {
  let gw: TestGateway;
  let a: Tenant;
  let pkg: number;

  beforeAll(async () => {
    gw = await startTestGateway({ JCS_GC_GRACE_SECONDS: '0', JCS_MAX_FILES_PER_UPLOAD: '50' });
    a = await gw.tenant();
    pkg = await newPackage(a);
  });
  afterAll(async () => gw?.stop());

  const countObjects = async () => Number((await gw.sql('SELECT count(*) AS n FROM objects'))[0].n);

  it.each([0, 1, 1024 * 1024 + 1])('round-trips %i random bytes byte-exact', async (size) => {
    const data = randomBytes(size);
    const res = await uploadFiles(a, pkg, [[`rt/${size}.bin`, data]]);
    expect(res.status).toBe(200);
    const obj = res.body.data.uploadeds[0];
    expect(res.body).toEqual({
      code: 'OK',
      message: '',
      data: {
        uploadeds: [
          {
            objectID: expect.any(Number),
            packageID: pkg,
            path: `rt/${size}.bin`,
            size: String(size),
            fileHash: fullHashOf(data),
            redundancy: { type: 'none' },
            createTime: expect.any(String),
            updateTime: expect.any(String),
          },
        ],
      },
    });
    const got = await download(a, { objectID: obj.objectID });
    expect(got.status).toBe(200);
    expect(got.bytes.equals(data)).toBe(true);
    expect(got.headers.get('content-length')).toBe(String(size));
    expect(got.headers.get('etag')).toBe(`"${obj.fileHash}"`);
    expect(got.headers.get('accept-ranges')).toBe('bytes');
    expect(got.headers.get('content-type')).toBe('application/octet-stream');
    expect(got.headers.get('content-disposition')).toBe(`attachment; filename*=UTF-8''${size}.bin`);
  });

  it('round-trips a 200 MiB stream, compared by SHA-256', async () => {
    const size = 200 * 1024 * 1024;
    const { hex } = await hashStream(pseudoRandomStream(size, 7));
    const res = await uploadFiles(a, pkg, [['big/200MiB.bin', () => pseudoRandomStream(size, 7)]]);
    expect(res.body.data.uploadeds[0]).toMatchObject({ size: String(size), fileHash: 'Full' + hex.toUpperCase() });
    const r = await a.client.raw({ path: '/v1/object/download', query: { objectID: res.body.data.uploadeds[0].objectID } });
    const got = await hashStream(r.body);
    expect(got.bytes).toBe(size);
    expect(got.hex).toBe(hex);
  });

  it('uploads several files in part order and decodes URL-encoded filenames and backslashes', async () => {
    const res = await uploadForm(a, '/v1/object/upload', [
      { name: 'info', value: JSON.stringify({ packageID: pkg }) },
      { name: 'files', filename: 'a%2Fb%2Ftest2.txt', data: Buffer.from('two') },
      { name: 'files', filename: 'win%5Cdir%5Cfile.txt', data: Buffer.from('win') },
      { name: 'files', filename: encodeURIComponent('ünï/çødé 100%.txt'), data: Buffer.from('uni') },
    ]);
    expect(res.body.data.uploadeds.map((o: any) => o.path)).toEqual(['a/b/test2.txt', 'win/dir/file.txt', 'ünï/çødé 100%.txt']);
    const byPath = await download(a, { packageID: pkg, path: 'ünï/çødé 100%.txt' }, {}, 'downloadByPath');
    expect(byPath.bytes.toString()).toBe('uni');
    expect(byPath.headers.get('content-disposition')).toBe(`attachment; filename*=UTF-8''${encodeURIComponent('çødé 100%.txt')}`);
  });

  it('overwrites in place: same objectID and createTime, new updateTime, size and hash', async () => {
    const first = (await uploadFiles(a, pkg, [['over/x', Buffer.from('first version')]])).body.data.uploadeds[0];
    await new Promise((r) => setTimeout(r, 20));
    const second = (await uploadFiles(a, pkg, [['over/x', Buffer.from('v2')]])).body.data.uploadeds[0];
    expect(second.objectID).toBe(first.objectID);
    expect(second.createTime).toBe(first.createTime);
    expect(second.updateTime > first.updateTime).toBe(true);
    expect(second).toMatchObject({ size: '2', fileHash: fullHashOf(Buffer.from('v2')) });
    expect((await download(a, { objectID: first.objectID })).bytes.toString()).toBe('v2');
  });

  it('reuses an identical shard instead of writing it again', async () => {
    const data = randomBytes(4096);
    await uploadFiles(a, pkg, [['dedup/1', data], ['dedup/2', data]]);
    const rows = await gw.sql('SELECT count(*) AS n FROM shards WHERE file_hash = $1', [fullHashOf(data)]);
    expect(Number(rows[0].n)).toBe(1);
    const hex = fullHashOf(data).slice(4);
    const shardFiles = filesUnder(path.join(gw.dataDir, 'tenants', String(a.userID), 'shards/blocks', hex.slice(0, 2)));
    // Other shards of this suite may share the two-hex folder; what must not be there is a second copy
    // or a leftover temp file of this content.
    expect(shardFiles.filter((f) => f === fullHashOf(data) || !/^Full[0-9A-F]{64}$/.test(f))).toEqual([fullHashOf(data)]);
  });

  it('is atomic: one bad file in the batch commits nothing', async () => {
    const before = await countObjects();
    const res = await uploadFiles(a, pkg, [
      ['atomic/good1', Buffer.from('1')],
      ['atomic/../bad', Buffer.from('2')],
      ['atomic/good2', Buffer.from('3')],
    ]);
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('BadArgument');
    expect(await countObjects()).toBe(before);
    expect((await download(a, { packageID: pkg, path: 'atomic/good1' }, {}, 'downloadByPath')).status).toBe(404);
  });

  it.each([
    ['empty path', ''],
    ['absolute path', '%2Fabs'],
    ['dot segment', 'a%2F.%2Fb'],
    ['dot-dot segment', '..%2Fx'],
    ['empty segment', 'a%2F%2Fb'],
    ['NUL', 'a%00b'],
    ['over 1024 bytes', 'x'.repeat(1025)],
    ['bad URL encoding', 'a%ZZ'],
  ])('refuses a file with %s (BadArgument, nothing stored)', async (_l, filename) => {
    const before = await countObjects();
    const res = await uploadForm(a, '/v1/object/upload', [
      { name: 'info', value: JSON.stringify({ packageID: pkg }) },
      { name: 'files', filename, data: Buffer.from('x') },
    ]);
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ code: 'BadArgument', message: expect.any(String), data: null });
    expect(await countObjects()).toBe(before);
  });

  it('refuses the same path twice in one upload', async () => {
    const res = await uploadFiles(a, pkg, [['twice', Buffer.from('1')], ['twice', Buffer.from('2')]]);
    expect(res.body.code).toBe('BadArgument');
  });

  it.each([
    ['no info part', [{ name: 'files', filename: 'x', data: Buffer.from('x') }]],
    ['info after a file', [{ name: 'files', filename: 'x', data: Buffer.from('x') }, { name: 'info', value: '{"packageID":1}' }]],
    ['unparsable info', [{ name: 'info', value: '{nope' }, { name: 'files', filename: 'x', data: Buffer.from('x') }]],
    ['info that is not an object', [{ name: 'info', value: '[1]' }]],
    ['a string packageID', [{ name: 'info', value: '{"packageID":"1"}' }]],
  ] as const)('answers BadArgument for %s', async (_l, parts) => {
    const before = await countObjects();
    const res = await uploadForm(a, '/v1/object/upload', parts as never);
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('BadArgument');
    expect(await countObjects()).toBe(before);
  });

  it('answers BadArgument for a body that is not multipart', async () => {
    const res = await a.client.post('/v1/object/upload', { packageID: pkg });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('BadArgument');
  });

  it('answers DataNotFound for an unknown package, storing nothing', async () => {
    const before = await countObjects();
    const res = await uploadFiles(a, 99999999, [['x', Buffer.from('x')]]);
    expect(res.status).toBe(404);
    expect(res.body.code).toBe('DataNotFound');
    expect(await countObjects()).toBe(before);
  });

  it('refuses more files than the per-request limit', async () => {
    const files = Array.from({ length: 51 }, (_, i): [string, Buffer] => [`many/${i}`, Buffer.from(String(i))]);
    const res = await uploadFiles(a, pkg, files);
    expect(res.body.code).toBe('BadArgument');
    expect(res.body.message).toContain('50');
  });

  it('ignores an unknown or foreign affinity', async () => {
    const res = await uploadFiles(a, pkg, [['aff/x', Buffer.from('affinity')]], { affinity: 424242 });
    expect(res.body.code).toBe('OK');
    expect((await download(a, { objectID: res.body.data.uploadeds[0].objectID })).bytes.toString()).toBe('affinity');
  });

  it('checks a signed payload hash of a streamed upload before committing', async () => {
    const { body, contentType } = multipartBody([
      { name: 'info', value: JSON.stringify({ packageID: pkg }) },
      { name: 'files', filename: 'signed/x', data: Buffer.from('payload') },
    ]);
    const chunks: Buffer[] = [];
    for await (const c of body) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks);
    const sha = createHash('sha256').update(raw).digest('hex');
    const good = await a.client.json({ method: 'POST', path: '/v1/object/upload', body: Readable.from([raw]), headers: { 'content-type': contentType, 'x-amz-content-sha256': sha } });
    expect(good.body.code).toBe('OK');
    const tampered = Buffer.from(raw.toString('latin1').replace('payload', 'PAYLOAD'), 'latin1');
    const { url, init } = await a.client.signedRequest({ method: 'POST', path: '/v1/object/upload', body: Readable.from([raw]), headers: { 'content-type': contentType, 'x-amz-content-sha256': sha } });
    const bad = await fetch(url, { ...init, body: tampered });
    expect(bad.status).toBe(401);
    expect(((await bad.json()) as any).code).toBe('Unauthorized');
    expect((await download(a, { objectID: good.body.data.uploadeds[0].objectID })).bytes.toString()).toBe('payload');
  });

  it('a client that disconnects mid-upload leaves no object and no temp file (earlier parts included)', async () => {
    const before = await countObjects();
    const { body, contentType } = multipartBody([
      { name: 'info', value: JSON.stringify({ packageID: pkg }) },
      { name: 'files', filename: 'cut/first', data: randomBytes(10_000) },
      { name: 'files', filename: 'cut/second', data: randomBytes(20_000) },
      {
        name: 'files',
        filename: 'cut/off',
        data: () =>
          Readable.from(
            (async function* () {
              yield randomBytes(3 * 1024 * 1024);
              await new Promise((r) => setTimeout(r, 300));
              throw new Error('client gone');
            })(),
          ),
      },
    ]);
    await expect(a.client.json({ method: 'POST', path: '/v1/object/upload', body, headers: { 'content-type': contentType } })).rejects.toThrow();
    const tmp = path.join(gw.dataDir, 'tenants', String(a.userID), 'shards/tmp');
    // The gateway notices the cut and removes what it staged; poll rather than guess how long that takes.
    for (let i = 0; i < 50 && filesUnder(tmp).length > 0; i++) await new Promise((r) => setTimeout(r, 100));
    expect(filesUnder(tmp)).toEqual([]);
    expect(await countObjects()).toBe(before);
    await gw.app.get(GarbageCollector).run();
    expect(filesUnder(tmp)).toEqual([]);
  });
});
