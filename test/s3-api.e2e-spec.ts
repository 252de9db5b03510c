import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import {
  CopyObjectCommand,
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetBucketLocationCommand,
  GetBucketVersioningCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  ListObjectsCommand,
  ListObjectsV2Command,
  PutBucketPolicyCommand,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { startTestGateway, type Tenant, type TestGateway } from './support/gateway.js';
import { s3ClientFor } from './support/s3-client.js';

/** S3 operations through the current AWS SDK (default checksums on) against the real gateway. */
describe('S3 endpoint: buckets, objects, listings, copy', () => {
  let gw: TestGateway;
  let a: Tenant;
  let s3: S3Client;

  beforeAll(async () => {
    gw = await startTestGateway();
    a = await gw.tenant('alice');
    s3 = s3ClientFor(gw, a);
  });
  afterAll(async () => gw?.stop());

  async function s3Fails(p: Promise<unknown>): Promise<{ name: string; status: number; requestId?: string }> {
    try {
      await p;
    } catch (e) {
      const x = e as S3ServiceException;
      return { name: x.name, status: x.$metadata.httpStatusCode!, requestId: x.$metadata.requestId };
    }
    throw new Error('expected the request to fail');
  }

  it('creates, lists, heads, locates and deletes buckets with S3 errors where S3 has them', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: 'b-one' }));
    await s3.send(new CreateBucketCommand({ Bucket: 'b-two', CreateBucketConfiguration: { LocationConstraint: 'eu-west-1' } }));
    expect(await s3Fails(s3.send(new CreateBucketCommand({ Bucket: 'b-one' })))).toMatchObject({ name: 'BucketAlreadyOwnedByYou', status: 409 });
    for (const bad of ['ab', 'Upper', 'a..b', '192.168.1.1', '-lead', 'x'.repeat(64)]) {
      expect(await s3Fails(s3.send(new CreateBucketCommand({ Bucket: bad })))).toMatchObject({ name: 'InvalidBucketName', status: 400 });
    }
    const list = await s3.send(new ListBucketsCommand({}));
    expect(list.Buckets!.map((b) => b.Name)).toEqual(['b-one', 'b-two']);
    expect(list.Owner).toEqual({ ID: String(a.userID), DisplayName: 'alice' });
    await s3.send(new HeadBucketCommand({ Bucket: 'b-one' }));
    expect(await s3Fails(s3.send(new HeadBucketCommand({ Bucket: 'nope-bucket' })))).toMatchObject({ status: 404 });
    expect((await s3.send(new GetBucketLocationCommand({ Bucket: 'b-one' }))).LocationConstraint).toBeUndefined();
    expect((await s3.send(new GetBucketVersioningCommand({ Bucket: 'b-one' }))).Status).toBeUndefined();
    await s3.send(new PutObjectCommand({ Bucket: 'b-two', Key: 'k', Body: 'x' }));
    expect(await s3Fails(s3.send(new DeleteBucketCommand({ Bucket: 'b-two' })))).toMatchObject({ name: 'BucketNotEmpty', status: 409 });
    await s3.send(new DeleteObjectCommand({ Bucket: 'b-two', Key: 'k' }));
    await s3.send(new DeleteBucketCommand({ Bucket: 'b-two' }));
    expect(await s3Fails(s3.send(new DeleteBucketCommand({ Bucket: 'b-two' })))).toMatchObject({ name: 'NoSuchBucket', status: 404 });
    expect(await s3Fails(s3.send(new PutBucketPolicyCommand({ Bucket: 'b-one', Policy: '{}' })))).toMatchObject({ name: 'NotImplemented', status: 501 });
  });

  it('stores and returns bytes, ETag (MD5), Content-* headers and x-amz-meta-*', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: 'objs' }));
    const body = Buffer.from('hello S3 world');
    const put = await s3.send(
      new PutObjectCommand({
        Bucket: 'objs',
        Key: 'dir/a.txt',
        Body: body,
        ContentType: 'text/plain',
        CacheControl: 'max-age=60',
        ContentDisposition: 'attachment; filename="a.txt"',
        ContentEncoding: 'identity',
        Expires: new Date('2030-01-01T00:00:00Z'),
        Metadata: { colour: 'blue', n: '1' },
        ContentMD5: createHash('md5').update(body).digest('base64'),
      }),
    );
    const md5 = `"${createHash('md5').update(body).digest('hex')}"`;
    expect(put.ETag).toBe(md5);
    const got = await s3.send(new GetObjectCommand({ Bucket: 'objs', Key: 'dir/a.txt' }));
    expect(Buffer.from(await got.Body!.transformToByteArray())).toEqual(body);
    expect(got).toMatchObject({
      ETag: md5,
      ContentType: 'text/plain',
      CacheControl: 'max-age=60',
      ContentDisposition: 'attachment; filename="a.txt"',
      ContentEncoding: 'identity',
      ContentLength: body.length,
      Metadata: { colour: 'blue', n: '1' },
    });
    expect(got.ExpiresString ?? got.Expires?.toUTCString()).toContain('2030');
    const head = await s3.send(new HeadObjectCommand({ Bucket: 'objs', Key: 'dir/a.txt' }));
    expect(head).toMatchObject({ ETag: md5, ContentLength: body.length, ContentType: 'text/plain' });
    expect(await s3Fails(s3.send(new GetObjectCommand({ Bucket: 'objs', Key: 'missing' })))).toMatchObject({ name: 'NoSuchKey', status: 404 });
    expect(await s3Fails(s3.send(new HeadObjectCommand({ Bucket: 'objs', Key: 'missing' })))).toMatchObject({ status: 404 });
    // A wrong Content-MD5: BadDigest, and nothing committed.
    expect(
      await s3Fails(s3.send(new PutObjectCommand({ Bucket: 'objs', Key: 'bad-md5', Body: 'abc', ContentMD5: createHash('md5').update('abd').digest('base64') }))),
    ).toMatchObject({ name: 'BadDigest', status: 400 });
    expect(await s3Fails(s3.send(new HeadObjectCommand({ Bucket: 'objs', Key: 'bad-md5' })))).toMatchObject({ status: 404 });
    // Too much user metadata.
    expect(await s3Fails(s3.send(new PutObjectCommand({ Bucket: 'objs', Key: 'big-meta', Body: 'x', Metadata: { m: 'x'.repeat(2100) } })))).toMatchObject({
      name: 'MetadataTooLarge',
    });
    // Canned ACL private is accepted, another is not.
    await s3.send(new PutObjectCommand({ Bucket: 'objs', Key: 'acl', Body: 'x', ACL: 'private' }));
    expect(await s3Fails(s3.send(new PutObjectCommand({ Bucket: 'objs', Key: 'acl', Body: 'x', ACL: 'public-read' })))).toMatchObject({ name: 'NotImplemented', status: 501 });
  });

  it('stores keys /v1 would refuse, and refuses NUL', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: 'keys' }));
    const keys = ['/leading', 'a//b', './x/../y', 'dir/', 'sp ace+plus%pct', 'ü/日本', 'k'.repeat(1024)];
    for (const Key of keys) await s3.send(new PutObjectCommand({ Bucket: 'keys', Key, Body: Key }));
    for (const Key of keys) {
      const got = await s3.send(new GetObjectCommand({ Bucket: 'keys', Key }));
      expect(await got.Body!.transformToString()).toBe(Key);
    }
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: 'keys' }));
    expect(listed.Contents!.map((c) => c.Key).sort()).toEqual([...keys].sort());
    expect(await s3Fails(s3.send(new PutObjectCommand({ Bucket: 'keys', Key: 'k'.repeat(1025), Body: 'x' })))).toMatchObject({ status: 400 });
  });

  it('answers ranges, suffix ranges, conditional requests and response-* overrides', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: 'ranges' }));
    const body = Buffer.from('0123456789abcdefghij');
    const { ETag } = await s3.send(new PutObjectCommand({ Bucket: 'ranges', Key: 'r', Body: body }));
    const range = async (Range: string) => {
      const g = await s3.send(new GetObjectCommand({ Bucket: 'ranges', Key: 'r', Range }));
      return { text: await g.Body!.transformToString(), cr: g.ContentRange, len: g.ContentLength };
    };
    expect(await range('bytes=2-5')).toEqual({ text: '2345', cr: 'bytes 2-5/20', len: 4 });
    expect(await range('bytes=15-')).toEqual({ text: 'fghij', cr: 'bytes 15-19/20', len: 5 });
    expect(await range('bytes=-3')).toEqual({ text: 'hij', cr: 'bytes 17-19/20', len: 3 });
    expect(await s3Fails(s3.send(new GetObjectCommand({ Bucket: 'ranges', Key: 'r', Range: 'bytes=50-60' })))).toMatchObject({ name: 'InvalidRange', status: 416 });
    expect(await s3Fails(s3.send(new GetObjectCommand({ Bucket: 'ranges', Key: 'r', IfNoneMatch: ETag })))).toMatchObject({ status: 304 });
    expect(await s3Fails(s3.send(new GetObjectCommand({ Bucket: 'ranges', Key: 'r', IfMatch: '"nope"' })))).toMatchObject({ name: 'PreconditionFailed', status: 412 });
    const future = new Date(Date.now() + 3600_000);
    const past = new Date(Date.now() - 3600_000);
    expect(await s3Fails(s3.send(new GetObjectCommand({ Bucket: 'ranges', Key: 'r', IfModifiedSince: future })))).toMatchObject({ status: 304 });
    expect(await s3Fails(s3.send(new GetObjectCommand({ Bucket: 'ranges', Key: 'r', IfUnmodifiedSince: past })))).toMatchObject({ status: 412 });
    // RFC 7232: If-Match that holds makes If-Unmodified-Since irrelevant.
    await s3.send(new GetObjectCommand({ Bucket: 'ranges', Key: 'r', IfMatch: ETag, IfUnmodifiedSince: past }));
    const o = await s3.send(
      new GetObjectCommand({ Bucket: 'ranges', Key: 'r', ResponseContentType: 'application/x-test', ResponseContentDisposition: 'inline', ResponseCacheControl: 'no-cache' }),
    );
    expect(o).toMatchObject({ ContentType: 'application/x-test', ContentDisposition: 'inline', CacheControl: 'no-cache' });
    await o.Body!.transformToString();
  });

  it('lists with prefix, any delimiter, paging (v1 marker and v2 token), start-after and encoding-type=url', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: 'listing' }));
    const keys = ['a', 'a-1', 'a-2', 'b|x|1', 'b|x|2', 'b|y', 'c/d', 'c/e/f', 'sp ace', 'z'];
    for (const Key of keys) await s3.send(new PutObjectCommand({ Bucket: 'listing', Key, Body: 'x' }));
    const all = await s3.send(new ListObjectsV2Command({ Bucket: 'listing' }));
    expect(all.Contents!.map((c) => c.Key)).toEqual(keys);
    expect(all.KeyCount).toBe(keys.length);
    expect(all.Contents![0]!.Owner).toBeUndefined();
    const owned = await s3.send(new ListObjectsV2Command({ Bucket: 'listing', FetchOwner: true, MaxKeys: 1 }));
    expect(owned.Contents![0]!.Owner).toEqual({ ID: String(a.userID), DisplayName: 'alice' });

    const pipe = await s3.send(new ListObjectsV2Command({ Bucket: 'listing', Delimiter: '|' }));
    expect(pipe.CommonPrefixes!.map((p) => p.Prefix)).toEqual(['b|']);
    const under = await s3.send(new ListObjectsV2Command({ Bucket: 'listing', Prefix: 'b|', Delimiter: '|' }));
    expect(under.CommonPrefixes!.map((p) => p.Prefix)).toEqual(['b|x|']);
    expect(under.Contents!.map((c) => c.Key)).toEqual(['b|y']);
    const multi = await s3.send(new ListObjectsV2Command({ Bucket: 'listing', Delimiter: '-' }));
    expect(multi.CommonPrefixes!.map((p) => p.Prefix)).toEqual(['a-']);

    // Paging one entry at a time, both versions, gives every entry exactly once.
    const seenV2: string[] = [];
    let token: string | undefined;
    do {
      const page = await s3.send(new ListObjectsV2Command({ Bucket: 'listing', Delimiter: '/', MaxKeys: 1, ContinuationToken: token }));
      seenV2.push(...(page.Contents ?? []).map((c) => c.Key!), ...(page.CommonPrefixes ?? []).map((p) => p.Prefix!));
      token = page.NextContinuationToken;
    } while (token);
    expect(seenV2).toEqual(['a', 'a-1', 'a-2', 'b|x|1', 'b|x|2', 'b|y', 'c/', 'sp ace', 'z']);
    const seenV1: string[] = [];
    let marker: string | undefined;
    for (;;) {
      const page = await s3.send(new ListObjectsCommand({ Bucket: 'listing', Delimiter: '/', MaxKeys: 2, Marker: marker }));
      seenV1.push(...(page.Contents ?? []).map((c) => c.Key!), ...(page.CommonPrefixes ?? []).map((p) => p.Prefix!));
      if (!page.IsTruncated) break;
      marker = page.NextMarker;
    }
    expect(seenV1.sort()).toEqual(seenV2.sort());
    const after = await s3.send(new ListObjectsV2Command({ Bucket: 'listing', StartAfter: 'c/d' }));
    expect(after.Contents!.map((c) => c.Key)).toEqual(['c/e/f', 'sp ace', 'z']);
    const encoded = await s3.send(new ListObjectsV2Command({ Bucket: 'listing', Prefix: 'sp', EncodingType: 'url' }));
    expect(encoded.Contents!.map((c) => c.Key)).toEqual(['sp%20ace']);
    expect(await s3Fails(s3.send(new ListObjectsV2Command({ Bucket: 'listing', ContinuationToken: 'garbage' })))).toMatchObject({ name: 'InvalidArgument' });
    expect(await s3Fails(s3.send(new ListObjectsV2Command({ Bucket: 'no-such-bucket' })))).toMatchObject({ name: 'NoSuchBucket', status: 404 });
  });

  it('deletes one object (204 even when missing) and many (quiet and verbose)', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: 'deletes' }));
    for (const Key of ['d1', 'd2', 'd3', 'd4']) await s3.send(new PutObjectCommand({ Bucket: 'deletes', Key, Body: Key }));
    expect((await s3.send(new DeleteObjectCommand({ Bucket: 'deletes', Key: 'never' }))).$metadata.httpStatusCode).toBe(204);
    const verbose = await s3.send(new DeleteObjectsCommand({ Bucket: 'deletes', Delete: { Objects: [{ Key: 'd1' }, { Key: 'd2' }, { Key: 'gone' }] } }));
    expect(verbose.Deleted!.map((d) => d.Key).sort()).toEqual(['d1', 'd2', 'gone']);
    const quiet = await s3.send(new DeleteObjectsCommand({ Bucket: 'deletes', Delete: { Quiet: true, Objects: [{ Key: 'd3' }] } }));
    expect(quiet.Deleted ?? []).toEqual([]);
    const left = await s3.send(new ListObjectsV2Command({ Bucket: 'deletes' }));
    expect(left.Contents!.map((c) => c.Key)).toEqual(['d4']);
    const tooMany = Array.from({ length: 1001 }, (_, i) => ({ Key: `k${i}` }));
    expect(await s3Fails(s3.send(new DeleteObjectsCommand({ Bucket: 'deletes', Delete: { Objects: tooMany } })))).toMatchObject({ name: 'MalformedXML', status: 400 });
  });

  it('copies within and across buckets without copying bytes, with metadata directives and source conditions', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: 'copy-src' }));
    await s3.send(new CreateBucketCommand({ Bucket: 'copy-dst' }));
    const { ETag } = await s3.send(new PutObjectCommand({ Bucket: 'copy-src', Key: 'src key', Body: 'copied bytes', ContentType: 'text/x', Metadata: { a: '1' } }));
    const same = await s3.send(new CopyObjectCommand({ Bucket: 'copy-src', Key: 'copy', CopySource: `copy-src/${encodeURIComponent('src key')}` }));
    expect(same.CopyObjectResult!.ETag).toBe(ETag);
    const across = await s3.send(
      new CopyObjectCommand({ Bucket: 'copy-dst', Key: 'x/y', CopySource: '/copy-src/src%20key', MetadataDirective: 'REPLACE', ContentType: 'text/y', Metadata: { b: '2' } }),
    );
    expect(across.CopyObjectResult!.ETag).toBe(ETag);
    const kept = await s3.send(new HeadObjectCommand({ Bucket: 'copy-src', Key: 'copy' }));
    expect(kept).toMatchObject({ ContentType: 'text/x', Metadata: { a: '1' } });
    const replaced = await s3.send(new GetObjectCommand({ Bucket: 'copy-dst', Key: 'x/y' }));
    expect(replaced).toMatchObject({ ContentType: 'text/y', Metadata: { b: '2' } });
    expect(await replaced.Body!.transformToString()).toBe('copied bytes');
    // Shares the shard: the target's block is the source's.
    const blocks = await gw.sql(
      `SELECT o.path, b.file_hash FROM objects o JOIN object_blocks b ON b.object_id = o.object_id WHERE o.user_id = $1 AND o.path IN ('src key', 'x/y')`,
      [a.userID],
    );
    expect(new Set(blocks.map((b) => b.file_hash)).size).toBe(1);
    expect(
      await s3Fails(s3.send(new CopyObjectCommand({ Bucket: 'copy-dst', Key: 'z', CopySource: 'copy-src/src%20key', CopySourceIfMatch: '"other"' }))),
    ).toMatchObject({ name: 'PreconditionFailed', status: 412 });
    expect(await s3Fails(s3.send(new CopyObjectCommand({ Bucket: 'copy-dst', Key: 'z', CopySource: 'copy-src/missing' })))).toMatchObject({ name: 'NoSuchKey' });
    expect(await s3Fails(s3.send(new CopyObjectCommand({ Bucket: 'copy-dst', Key: 'z', CopySource: 'nobucket/x' })))).toMatchObject({ name: 'NoSuchBucket' });
    expect(await s3Fails(s3.send(new CopyObjectCommand({ Bucket: 'copy-src', Key: 'copy', CopySource: 'copy-src/copy' })))).toMatchObject({ name: 'InvalidRequest' });
  });

  it('answers errors as S3 XML with a request id on every response', async () => {
    const res = await fetch(`${gw.s3Url}/some-bucket/key`);
    expect(res.status).toBe(403);
    expect(res.headers.get('x-amz-request-id')).toMatch(/^[0-9A-F]{16}$/);
    const text = await res.text();
    expect(text).toMatch(/<Error><Code>AccessDenied<\/Code><Message>[^<]*<\/Message><Resource>\/some-bucket\/key<\/Resource><RequestId>[0-9A-F]{16}<\/RequestId><\/Error>/);
    const ok = await s3.send(new ListBucketsCommand({}));
    expect(ok.$metadata.requestId).toMatch(/^[0-9A-F]{16}$/);
    // Headers past JCS_MAX_HEADER_BYTES: refused by the parser, still in S3's words.
    const huge = await fetch(`${gw.s3Url}/`, { headers: { 'x-big': 'x'.repeat(gw.config.JCS_MAX_HEADER_BYTES + 1024) } });
    expect(huge.status).toBe(400);
    expect(await huge.text()).toContain('<Code>RequestHeaderSectionTooLarge</Code>');
  });
});
