import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  PutObjectCommand,
  UploadPartCommand,
  UploadPartCopyCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { GarbageCollector } from '#garbage-collector';
import { S3UploadsService, type S3UploadError } from '#objects';
import { startTestGateway, type Tenant, type TestGateway } from './support/gateway.js';
import { download, fullHashOf, newPackage, uploadFiles } from './support/objects.js';
import { s3ClientFor } from './support/s3-client.js';

const MiB = 1024 * 1024;
const md5 = (b: Buffer) => createHash('md5').update(b).digest();
const etagOf = (b: Buffer) => `"${md5(b).toString('hex')}"`;
const multipartEtag = (parts: Buffer[]) => `"${createHash('md5').update(Buffer.concat(parts.map(md5))).digest('hex')}-${parts.length}"`;

/**
 * S3 multipart uploads (issue 11 §4) through the domain service, against a real gateway (PostgreSQL,
 * files): the S3 listener's handlers (apps/gateway/src/s3/multipart.ts) are thin calls into it.
 */
describe('S3 multipart uploads (domain)', () => {
  let gw: TestGateway;
  let a: Tenant;
  let b: Tenant;
  let pkg: number;
  let s3: S3UploadsService;

  beforeAll(async () => {
    gw = await startTestGateway({ JCS_GC_GRACE_SECONDS: '0', JCS_GC_READ_GRACE_SECONDS: '0' });
    a = await gw.tenant();
    b = await gw.tenant();
    pkg = await newPackage(a);
    s3 = gw.app.get(S3UploadsService);
  });
  afterAll(async () => gw?.stop());

  const s3Error = async (p: Promise<unknown>): Promise<string> => {
    try {
      await p;
    } catch (e) {
      return (e as S3UploadError).s3Code ?? (e as Error).name;
    }
    throw new Error('expected a failure');
  };
  const put = (uploadId: string, n: number, bytes: Buffer, userId = a.userID) => s3.uploadPart(userId, uploadId, n, Readable.from([bytes]));
  const read = async (p: number, objPath: string) => {
    const r = await download(a, { packageID: p, path: objPath }, {}, 'downloadByPath');
    return r;
  };
  const listed = async (prefix: string) =>
    (await a.client.get('/v1/object/listByPath', { packageID: pkg, path: prefix, isPrefix: true })).body.data.objects.map((o: any) => o.path);

  it('a 16 MiB+ upload stays invisible until Complete, then is byte-exact with the multipart ETag', async () => {
    const old = randomBytes(1000);
    await uploadFiles(a, pkg, [['big/file.bin', old]]);
    const up = await s3.create(a.userID, pkg, 'big/file.bin', { contentType: 'application/x-test', meta: { k: 'v' } });
    expect(up.uploadId).toMatch(/^[A-Za-z0-9_-]{32}$/);
    const parts = [randomBytes(6 * MiB), randomBytes(5 * MiB), randomBytes(5 * MiB + 123)];
    for (const [i, p] of parts.entries()) expect(await put(up.uploadId, i + 1, p)).toEqual({ etag: etagOf(p), size: p.length });
    // Invisible: the listing and a download of the key still give the old object.
    expect(await listed('big/')).toEqual(['big/file.bin']);
    expect((await read(pkg, 'big/file.bin')).bytes.equals(old)).toBe(true);
    const list = parts.map((p, i) => ({ partNumber: i + 1, etag: etagOf(p) }));
    const done = await s3.complete(a.userID, up.uploadId, list);
    expect(done).toEqual({
      uploadId: up.uploadId,
      packageId: pkg,
      key: 'big/file.bin',
      objectId: expect.any(Number),
      etag: multipartEtag(parts),
      s3Meta: { contentType: 'application/x-test', meta: { k: 'v' } },
    });
    const joined = Buffer.concat(parts);
    const got = await read(pkg, 'big/file.bin');
    expect(got.status).toBe(200);
    expect(got.bytes.equals(joined)).toBe(true);
    const [obj] = await gw.sql('SELECT object_id, file_hash, size::bigint AS size, redundancy FROM objects WHERE object_id = $1', [done.objectId]);
    expect(obj.file_hash).toBe(fullHashOf(joined));
    expect(obj.redundancy).toEqual({ type: 'segment', segments: parts.map((p) => p.length) });
    // Overwritten in place: the old object's ID.
    expect(await listed('big/')).toEqual(['big/file.bin']);
    // A retried Complete answers the same result; the parts are gone from the accounting of parts.
    expect(await s3.complete(a.userID, up.uploadId, list)).toEqual(done);
    expect(await gw.sql('SELECT 1 FROM s3_upload_parts WHERE upload_id = $1', [up.uploadId])).toEqual([]);
    // A completed upload is no longer open.
    expect(await s3Error(s3.abort(a.userID, up.uploadId))).toBe('NoSuchUpload');
    expect(await s3Error(put(up.uploadId, 4, Buffer.from('x')))).toBe('NoSuchUpload');
  });

  it('re-uploading a part number replaces it', async () => {
    const up = await s3.create(a.userID, pkg, 'replace.bin');
    await put(up.uploadId, 1, Buffer.from('first'));
    const second = Buffer.from('second version');
    await put(up.uploadId, 1, second);
    const page = await s3.listParts(a.userID, up.uploadId);
    expect(page.parts).toEqual([{ partNumber: 1, size: second.length, etag: etagOf(second), lastModified: expect.any(Date) }]);
    expect(await s3Error(s3.complete(a.userID, up.uploadId, [{ partNumber: 1, etag: etagOf(Buffer.from('first')) }]))).toBe('InvalidPart');
    const done = await s3.complete(a.userID, up.uploadId, [{ partNumber: 1, etag: etagOf(second).slice(1, -1) }]);
    expect(done.etag).toBe(multipartEtag([second]));
    expect((await read(pkg, 'replace.bin')).bytes.equals(second)).toBe(true);
  });

  it('Complete refuses InvalidPart, InvalidPartOrder, EntityTooSmall and an empty list; nothing is committed', async () => {
    const up = await s3.create(a.userID, pkg, 'refused.bin');
    const small = Buffer.from('small');
    const big = randomBytes(5 * MiB);
    await put(up.uploadId, 1, small);
    await put(up.uploadId, 2, big);
    await put(up.uploadId, 3, small);
    expect(await s3Error(s3.complete(a.userID, up.uploadId, []))).toBe('MalformedXML');
    expect(await s3Error(s3.complete(a.userID, up.uploadId, [{ partNumber: 4, etag: etagOf(small) }]))).toBe('InvalidPart');
    expect(await s3Error(s3.complete(a.userID, up.uploadId, [{ partNumber: 1, etag: '"00"' }]))).toBe('InvalidPart');
    expect(
      await s3Error(s3.complete(a.userID, up.uploadId, [{ partNumber: 2, etag: etagOf(big) }, { partNumber: 1, etag: etagOf(small) }])),
    ).toBe('InvalidPartOrder');
    expect(
      await s3Error(s3.complete(a.userID, up.uploadId, [{ partNumber: 1, etag: etagOf(small) }, { partNumber: 2, etag: etagOf(big) }])),
    ).toBe('EntityTooSmall');
    expect(await listed('refused')).toEqual([]);
    // Every part but the last ≥ 5 MiB: 2 then 3 is fine (a part may be skipped).
    const done = await s3.complete(a.userID, up.uploadId, [{ partNumber: 2, etag: etagOf(big) }, { partNumber: 3, etag: etagOf(small) }]);
    expect((await read(pkg, 'refused.bin')).bytes.equals(Buffer.concat([big, small]))).toBe(true);
    expect(done.etag).toBe(multipartEtag([big, small]));
  });

  it('UploadPart checks part numbers and Content-MD5; unknown uploads are NoSuchUpload', async () => {
    const up = await s3.create(a.userID, pkg, 'numbers.bin');
    expect(await s3Error(put(up.uploadId, 0, Buffer.from('x')))).toBe('InvalidArgument');
    expect(await s3Error(put(up.uploadId, 10001, Buffer.from('x')))).toBe('InvalidArgument');
    expect(await put(up.uploadId, 10000, Buffer.from('x'))).toEqual({ etag: etagOf(Buffer.from('x')), size: 1 });
    expect(await s3Error(s3.uploadPart(a.userID, up.uploadId, 2, Readable.from([Buffer.from('abc')]), { contentMd5: md5(Buffer.from('abd')) }))).toBe('BadDigest');
    await s3.uploadPart(a.userID, up.uploadId, 2, Readable.from([Buffer.from('abc')]), { contentMd5: md5(Buffer.from('abc')) });
    for (const op of [
      () => put('nope', 1, Buffer.from('x')),
      () => s3.complete(a.userID, 'nope', [{ partNumber: 1, etag: '"x"' }]),
      () => s3.abort(a.userID, 'nope'),
      () => s3.listParts(a.userID, 'nope'),
    ])
      expect(await s3Error(op())).toBe('NoSuchUpload');
    expect(await s3Error(s3.create(a.userID, pkg, ''))).toBe('BadArgument');
    expect(await s3Error(s3.create(a.userID, pkg, 'k'.repeat(1025)))).toBe('BadArgument');
    await s3.abort(a.userID, up.uploadId);
    expect(await s3Error(s3.abort(a.userID, up.uploadId))).toBe('NoSuchUpload');
    expect(await gw.sql('SELECT 1 FROM s3_upload_parts WHERE upload_id = $1', [up.uploadId])).toEqual([]);
  });

  it('UploadPartCopy copies whole objects and ranges, and honours the copy-source check', async () => {
    const src = randomBytes(7 * MiB + 5);
    await uploadFiles(a, pkg, [['copy/src.bin', src]]);
    const up = await s3.create(a.userID, pkg, 'copy/dst.bin');
    const first = await s3.uploadPartCopy(a.userID, up.uploadId, 1, { packageId: pkg, path: 'copy/src.bin', range: `bytes=0-${5 * MiB - 1}` });
    expect(first.etag).toBe(etagOf(src.subarray(0, 5 * MiB)));
    const second = await s3.uploadPartCopy(a.userID, up.uploadId, 2, { packageId: pkg, path: 'copy/src.bin' });
    expect(second.etag).toBe(etagOf(src));
    const third = await s3.uploadPartCopy(a.userID, up.uploadId, 3, { packageId: pkg, path: 'copy/src.bin', range: 'bytes=10-19' });
    expect(third.size).toBe(10);
    expect(await s3Error(s3.uploadPartCopy(a.userID, up.uploadId, 4, { packageId: pkg, path: 'copy/src.bin', range: 'bytes=5-' }))).toBe('InvalidArgument');
    expect(await s3Error(s3.uploadPartCopy(a.userID, up.uploadId, 4, { packageId: pkg, path: 'copy/src.bin', range: `bytes=0-${src.length}` }))).toBe('InvalidRange');
    const refused = s3.uploadPartCopy(a.userID, up.uploadId, 4, {
      packageId: pkg,
      path: 'copy/src.bin',
      check: () => {
        throw Object.assign(new Error('precondition'), { s3Code: 'PreconditionFailed' });
      },
    });
    expect(await s3Error(refused)).toBe('PreconditionFailed');
    expect((await s3.listParts(a.userID, up.uploadId)).parts.map((p) => p.partNumber)).toEqual([1, 2, 3]);
    await s3.complete(a.userID, up.uploadId, [first, second, third].map((p, i) => ({ partNumber: i + 1, etag: p.etag })));
    const want = Buffer.concat([src.subarray(0, 5 * MiB), src, src.subarray(10, 20)]);
    expect((await read(pkg, 'copy/dst.bin')).bytes.equals(want)).toBe(true);
  });

  it('ListParts pages with part-number-marker and max-parts', async () => {
    const up = await s3.create(a.userID, pkg, 'parts.bin');
    for (const n of [1, 2, 3, 5, 8]) await put(up.uploadId, n, Buffer.from(`part ${n}`));
    const p1 = await s3.listParts(a.userID, up.uploadId, { maxParts: 2 });
    expect([p1.parts.map((p) => p.partNumber), p1.isTruncated, p1.nextPartNumberMarker]).toEqual([[1, 2], true, 2]);
    const p2 = await s3.listParts(a.userID, up.uploadId, { partNumberMarker: 2, maxParts: 3 });
    expect([p2.parts.map((p) => p.partNumber), p2.isTruncated]).toEqual([[3, 5, 8], false]);
    expect(p2.upload.key).toBe('parts.bin');
    await s3.abort(a.userID, up.uploadId);
  });

  it('ListMultipartUploads: prefix, delimiter, key-marker, upload-id-marker, max-uploads', async () => {
    const p = await newPackage(a);
    const ids: Record<string, string[]> = {};
    for (const key of ['a/1', 'a/2', 'b', 'b', 'c/x/1', 'c/y', 'd']) (ids[key] ??= []).push((await s3.create(a.userID, p, key)).uploadId);
    for (const k of Object.keys(ids)) ids[k]!.sort();
    const all = await s3.listUploads(a.userID, p);
    expect(all.uploads.map((u) => u.key)).toEqual(['a/1', 'a/2', 'b', 'b', 'c/x/1', 'c/y', 'd']);
    expect(all.uploads.filter((u) => u.key === 'b').map((u) => u.uploadId)).toEqual(ids.b);
    expect(all.isTruncated).toBe(false);
    const rolled = await s3.listUploads(a.userID, p, { delimiter: '/' });
    expect([rolled.uploads.map((u) => u.key), rolled.commonPrefixes]).toEqual([['b', 'b', 'd'], ['a/', 'c/']]);
    const under = await s3.listUploads(a.userID, p, { prefix: 'c/', delimiter: '/' });
    expect([under.uploads.map((u) => u.key), under.commonPrefixes]).toEqual([['c/y'], ['c/x/']]);
    const first = await s3.listUploads(a.userID, p, { maxUploads: 3 });
    expect([first.uploads.map((u) => u.key), first.isTruncated, first.nextKeyMarker, first.nextUploadIdMarker]).toEqual([
      ['a/1', 'a/2', 'b'],
      true,
      'b',
      ids.b![0],
    ]);
    const next = await s3.listUploads(a.userID, p, { keyMarker: first.nextKeyMarker, uploadIdMarker: first.nextUploadIdMarker, maxUploads: 3 });
    expect(next.uploads.map((u) => [u.key, u.uploadId])).toEqual([['b', ids.b![1]], ['c/x/1', ids['c/x/1']![0]], ['c/y', ids['c/y']![0]]]);
    const afterKey = await s3.listUploads(a.userID, p, { keyMarker: 'b' });
    expect(afterKey.uploads.map((u) => u.key)).toEqual(['c/x/1', 'c/y', 'd']);
    const rolledPage = await s3.listUploads(a.userID, p, { delimiter: '/', maxUploads: 1 });
    expect([rolledPage.commonPrefixes, rolledPage.isTruncated, rolledPage.nextKeyMarker]).toEqual([['a/'], true, 'a/']);
    const rolledNext = await s3.listUploads(a.userID, p, { delimiter: '/', maxUploads: 2, keyMarker: 'a/' });
    expect([rolledNext.uploads.map((u) => u.key), rolledNext.commonPrefixes]).toEqual([['b', 'b'], []]);
    // A completed upload is no longer listed.
    await put(ids.d![0]!, 1, Buffer.from('d'));
    await s3.complete(a.userID, ids.d![0]!, [{ partNumber: 1, etag: etagOf(Buffer.from('d')) }]);
    expect((await s3.listUploads(a.userID, p, { prefix: 'd' })).uploads).toEqual([]);
  });

  it('isolation: another tenant cannot see, use, complete or abort an upload', async () => {
    const up = await s3.create(a.userID, pkg, 'private.bin');
    await put(up.uploadId, 1, Buffer.from('secret'));
    for (const op of [
      () => put(up.uploadId, 2, Buffer.from('x'), b.userID),
      () => s3.complete(b.userID, up.uploadId, [{ partNumber: 1, etag: etagOf(Buffer.from('secret')) }]),
      () => s3.abort(b.userID, up.uploadId),
      () => s3.listParts(b.userID, up.uploadId),
      () => s3.uploadPartCopy(b.userID, up.uploadId, 2, { packageId: pkg, path: 'replace.bin' }),
    ])
      expect(await s3Error(op())).toBe('NoSuchUpload');
    // A's package is missing for B, like any missing package.
    expect(await s3Error(s3.listUploads(b.userID, pkg))).toBe('DataNotFound');
    expect(await s3Error(s3.create(b.userID, pkg, 'x'))).toBe('DataNotFound');
    // B's own upload cannot copy from A's objects.
    const bPkg = await newPackage(b);
    const bUp = await s3.create(b.userID, bPkg, 'mine');
    expect(await s3Error(s3.uploadPartCopy(b.userID, bUp.uploadId, 1, { packageId: pkg, path: 'replace.bin' }))).toBe('DataNotFound');
    expect((await s3.listParts(a.userID, up.uploadId)).parts).toHaveLength(1);
    await s3.abort(a.userID, up.uploadId);
  });

  it('the collector keeps an open upload’s parts and collects an aborted one’s; stale uploads expire', async () => {
    const part = randomBytes(4096);
    const up = await s3.create(a.userID, pkg, 'gc.bin');
    await put(up.uploadId, 1, part);
    const h = fullHashOf(part);
    const file = path.join(gw.dataDir, 'tenants', String(a.userID), 'shards', 'blocks', h.slice(4, 6), h);
    expect(existsSync(file)).toBe(true);
    const gc = gw.app.get(GarbageCollector);
    await gc.run();
    await gc.run();
    expect(existsSync(file)).toBe(true);
    await s3.complete(a.userID, up.uploadId, [{ partNumber: 1, etag: etagOf(part) }]);
    await gc.run();
    await gc.run();
    expect(existsSync(file)).toBe(true); // now the object's block
    expect((await read(pkg, 'gc.bin')).bytes.equals(part)).toBe(true);

    const gone = randomBytes(4097);
    const up2 = await s3.create(a.userID, pkg, 'gc2.bin');
    await put(up2.uploadId, 1, gone);
    const h2 = fullHashOf(gone);
    const file2 = path.join(gw.dataDir, 'tenants', String(a.userID), 'shards', 'blocks', h2.slice(4, 6), h2);
    await s3.abort(a.userID, up2.uploadId);
    await gc.run();
    await gc.run();
    expect(existsSync(file2)).toBe(false);

    // Stale: older than JCS_MULTIPART_MAX_AGE_SECONDS (default a week); completed: kept an hour.
    const stale = await s3.create(a.userID, pkg, 'stale.bin');
    await gw.sql(`UPDATE s3_uploads SET create_time = now() - interval '8 days' WHERE upload_id = $1`, [stale.uploadId]);
    await gw.sql(`UPDATE s3_uploads SET completed_time = now() - interval '2 hours' WHERE upload_id = $1`, [up.uploadId]);
    const report = await gc.run();
    expect(report.abortedUploads).toBeGreaterThanOrEqual(1);
    expect(await gw.sql('SELECT upload_id FROM s3_uploads WHERE upload_id = ANY($1)', [[stale.uploadId, up.uploadId]])).toEqual([]);
  });

  it('concurrent Complete and Abort of one upload: exactly one wins, serialised by the upload row lock', async () => {
    for (let round = 0; round < 5; round++) {
      const up = await s3.create(a.userID, pkg, `race-${round}.bin`);
      const bytes = randomBytes(2000);
      await put(up.uploadId, 1, bytes);
      const [c, x] = await Promise.allSettled([s3.complete(a.userID, up.uploadId, [{ partNumber: 1, etag: etagOf(bytes) }]), s3.abort(a.userID, up.uploadId)]);
      const listedNow = await listed(`race-${round}.bin`);
      if (c.status === 'fulfilled') {
        expect(x.status === 'rejected' && (x.reason as S3UploadError).s3Code).toBe('NoSuchUpload');
        expect(listedNow).toEqual([`race-${round}.bin`]);
      } else {
        expect(x.status).toBe('fulfilled');
        expect((c.reason as S3UploadError).s3Code).toBe('NoSuchUpload');
        expect(listedNow).toEqual([]);
      }
    }
  });

  it('quota: parts count in the space usage, and a part past the space’s maxSize is refused', async () => {
    const c = await gw.tenant();
    const p = await newPackage(c);
    const up = await s3.create(c.userID, p, 'quota.bin');
    const [space] = await gw.sql('SELECT user_space_id FROM user_spaces WHERE user_id = $1', [c.userID]);
    const usage = async () => Number((await gw.sql('SELECT used_bytes FROM space_usage WHERE user_space_id = $1', [space.user_space_id]))[0]?.used_bytes ?? 0);
    await s3.uploadPart(c.userID, up.uploadId, 1, Readable.from([randomBytes(3000)]));
    expect(await usage()).toBe(3000);
    await s3.uploadPart(c.userID, up.uploadId, 1, Readable.from([randomBytes(2000)])); // replaced
    expect(await usage()).toBe(2000);
    await gw.sql(`UPDATE user_spaces SET shard_store = jsonb_build_object('maxSize', 5000) WHERE user_space_id = $1`, [space.user_space_id]);
    expect(await s3Error(s3.uploadPart(c.userID, up.uploadId, 2, Readable.from([randomBytes(4000)])))).toBe('QuotaExceeded');
    expect(await usage()).toBe(2000);
    await s3.abort(c.userID, up.uploadId);
    expect(await usage()).toBe(0);
  });
});

/** The same operations through the S3 listener with @aws-sdk/client-s3 (default checksums on) and lib-storage. */
describe('S3 multipart uploads (S3 listener, @aws-sdk/client-s3)', () => {
  let gw: TestGateway;
  let a: Tenant;
  let b: Tenant;
  let ca: S3Client;
  let cb: S3Client;
  const Bucket = 'mp-bucket';

  beforeAll(async () => {
    gw = await startTestGateway();
    a = await gw.tenant();
    b = await gw.tenant();
    ca = s3ClientFor(gw, a);
    cb = s3ClientFor(gw, b);
    await ca.send(new CreateBucketCommand({ Bucket }));
    await cb.send(new CreateBucketCommand({ Bucket })); // B's own bucket of the same name
  });
  afterAll(async () => {
    ca?.destroy();
    cb?.destroy();
    await gw?.stop();
  });

  const code = async (p: Promise<unknown>): Promise<string> => {
    try {
      await p;
    } catch (e) {
      return (e as { name: string }).name;
    }
    throw new Error('expected a failure');
  };
  const body = async (key: string) => {
    const r = await ca.send(new GetObjectCommand({ Bucket, Key: key }));
    return { bytes: Buffer.from(await r.Body!.transformToByteArray()), r };
  };

  it('Create, UploadPart, ListParts, ListMultipartUploads, Complete: invisible until then, metadata and ETag after', async () => {
    const Key = 'dir/obj.bin';
    const old = randomBytes(100);
    await ca.send(new PutObjectCommand({ Bucket, Key, Body: old }));
    const { UploadId } = await ca.send(
      new CreateMultipartUploadCommand({ Bucket, Key, ContentType: 'text/x-mp', Metadata: { color: 'blue' } }),
    );
    expect(UploadId).toBeTruthy();
    const parts = [randomBytes(5 * MiB), randomBytes(1234)];
    const etags: string[] = [];
    for (const [i, p] of parts.entries()) {
      const r = await ca.send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber: i + 1, Body: p }));
      expect(r.ETag).toBe(etagOf(p));
      etags.push(r.ETag!);
    }
    const lp = await ca.send(new ListPartsCommand({ Bucket, Key, UploadId }));
    expect(lp.Parts?.map((p) => [p.PartNumber, p.ETag, p.Size])).toEqual([
      [1, etags[0], parts[0]!.length],
      [2, etags[1], parts[1]!.length],
    ]);
    const lp1 = await ca.send(new ListPartsCommand({ Bucket, Key, UploadId, MaxParts: 1 }));
    expect([lp1.IsTruncated, lp1.NextPartNumberMarker, lp1.Parts?.length]).toEqual([true, '1', 1]);
    const lu = await ca.send(new ListMultipartUploadsCommand({ Bucket }));
    expect(lu.Uploads?.map((u) => [u.Key, u.UploadId])).toEqual([[Key, UploadId]]);
    const rolled = await ca.send(new ListMultipartUploadsCommand({ Bucket, Delimiter: '/' }));
    expect([rolled.Uploads ?? [], rolled.CommonPrefixes?.map((c) => c.Prefix)]).toEqual([[], ['dir/']]);
    // Invisible: the listing shows the old object, GetObject answers the old bytes.
    const listed = await ca.send(new ListObjectsV2Command({ Bucket }));
    expect(listed.Contents?.map((c) => [c.Key, c.Size])).toEqual([[Key, 100]]);
    expect((await body(Key)).bytes.equals(old)).toBe(true);

    const MultipartUpload = { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) };
    const done = await ca.send(new CompleteMultipartUploadCommand({ Bucket, Key, UploadId, MultipartUpload }));
    expect(done.ETag).toBe(multipartEtag(parts));
    const got = await body(Key);
    expect(got.bytes.equals(Buffer.concat(parts))).toBe(true);
    expect([got.r.ETag, got.r.ContentType, got.r.Metadata]).toEqual([multipartEtag(parts), 'text/x-mp', { color: 'blue' }]);
    // A retried Complete answers the same.
    const again = await ca.send(new CompleteMultipartUploadCommand({ Bucket, Key, UploadId, MultipartUpload }));
    expect(again.ETag).toBe(done.ETag);
    expect((await ca.send(new ListMultipartUploadsCommand({ Bucket }))).Uploads ?? []).toEqual([]);
    expect(await code(ca.send(new AbortMultipartUploadCommand({ Bucket, Key, UploadId })))).toBe('NoSuchUpload');
  });

  it('errors: NoSuchUpload, InvalidPart, InvalidPartOrder, EntityTooSmall', async () => {
    const Key = 'errors.bin';
    const { UploadId } = await ca.send(new CreateMultipartUploadCommand({ Bucket, Key }));
    const small = Buffer.from('small part');
    const e1 = (await ca.send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber: 1, Body: small }))).ETag!;
    const e2 = (await ca.send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber: 2, Body: small }))).ETag!;
    const complete = (Parts: Array<{ ETag: string; PartNumber: number }>) =>
      ca.send(new CompleteMultipartUploadCommand({ Bucket, Key, UploadId, MultipartUpload: { Parts } }));
    expect(await code(complete([{ ETag: e1, PartNumber: 3 }]))).toBe('InvalidPart');
    expect(await code(complete([{ ETag: '"0123"', PartNumber: 1 }]))).toBe('InvalidPart');
    expect(await code(complete([{ ETag: e2, PartNumber: 2 }, { ETag: e1, PartNumber: 1 }]))).toBe('InvalidPartOrder');
    expect(await code(complete([{ ETag: e1, PartNumber: 1 }, { ETag: e2, PartNumber: 2 }]))).toBe('EntityTooSmall');
    expect(await code(ca.send(new HeadObjectCommand({ Bucket, Key })))).toBe('NotFound');
    for (const op of [
      () => ca.send(new UploadPartCommand({ Bucket, Key, UploadId: 'nope', PartNumber: 1, Body: small })),
      () => ca.send(new ListPartsCommand({ Bucket, Key, UploadId: 'nope' })),
      () => ca.send(new AbortMultipartUploadCommand({ Bucket, Key, UploadId: 'nope' })),
      () => ca.send(new CompleteMultipartUploadCommand({ Bucket, Key, UploadId: 'nope', MultipartUpload: { Parts: [{ ETag: e1, PartNumber: 1 }] } })),
      // The upload ID of another key.
      () => ca.send(new UploadPartCommand({ Bucket, Key: 'other', UploadId, PartNumber: 1, Body: small })),
    ])
      expect(await code(op())).toBe('NoSuchUpload');
    // Isolation: tenant B with A's bucket name and upload ID.
    for (const op of [
      () => cb.send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber: 3, Body: small })),
      () => cb.send(new ListPartsCommand({ Bucket, Key, UploadId })),
      () => cb.send(new AbortMultipartUploadCommand({ Bucket, Key, UploadId })),
      () => cb.send(new CompleteMultipartUploadCommand({ Bucket, Key, UploadId, MultipartUpload: { Parts: [{ ETag: e1, PartNumber: 1 }] } })),
    ])
      expect(await code(op())).toBe('NoSuchUpload');
    expect((await cb.send(new ListMultipartUploadsCommand({ Bucket }))).Uploads ?? []).toEqual([]);
    await ca.send(new AbortMultipartUploadCommand({ Bucket, Key, UploadId }));
    expect(await code(ca.send(new ListPartsCommand({ Bucket, Key, UploadId })))).toBe('NoSuchUpload');
  });

  it('UploadPartCopy with x-amz-copy-source-range, and its conditions', async () => {
    const src = randomBytes(6 * MiB + 7);
    await ca.send(new PutObjectCommand({ Bucket, Key: 'copy-src', Body: src }));
    const Key = 'copy-dst';
    const { UploadId } = await ca.send(new CreateMultipartUploadCommand({ Bucket, Key }));
    const p1 = await ca.send(
      new UploadPartCopyCommand({ Bucket, Key, UploadId, PartNumber: 1, CopySource: `${Bucket}/copy-src`, CopySourceRange: `bytes=0-${5 * MiB - 1}` }),
    );
    const p2 = await ca.send(
      new UploadPartCopyCommand({ Bucket, Key, UploadId, PartNumber: 2, CopySource: `${Bucket}/copy-src`, CopySourceRange: `bytes=${5 * MiB}-${src.length - 1}` }),
    );
    expect(p1.CopyPartResult?.ETag).toBe(etagOf(src.subarray(0, 5 * MiB)));
    expect(
      await code(ca.send(new UploadPartCopyCommand({ Bucket, Key, UploadId, PartNumber: 3, CopySource: `${Bucket}/copy-src`, CopySourceIfMatch: '"nope"' }))),
    ).toBe('PreconditionFailed');
    expect(await code(ca.send(new UploadPartCopyCommand({ Bucket, Key, UploadId, PartNumber: 3, CopySource: `${Bucket}/missing` })))).toBe('NoSuchKey');
    const done = await ca.send(
      new CompleteMultipartUploadCommand({
        Bucket,
        Key,
        UploadId,
        MultipartUpload: { Parts: [p1, p2].map((p, i) => ({ ETag: p.CopyPartResult!.ETag!, PartNumber: i + 1 })) },
      }),
    );
    expect(done.ETag).toMatch(/-2"$/);
    expect((await body(Key)).bytes.equals(src)).toBe(true);
  });

  it('lib-storage Upload: a 17 MiB object through multipart, byte-exact', async () => {
    const data = randomBytes(17 * MiB + 3);
    const up = new Upload({ client: ca, params: { Bucket, Key: 'big/lib-storage.bin', Body: data }, partSize: 5 * MiB, queueSize: 2 });
    const r = await up.done();
    expect(r.ETag).toMatch(/-4"$/);
    const got = await body('big/lib-storage.bin');
    expect(createHash('sha256').update(got.bytes).digest('hex')).toBe(createHash('sha256').update(data).digest('hex'));
    expect(got.bytes.length).toBe(data.length);
  });
});
