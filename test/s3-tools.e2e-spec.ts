import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { dropGatewayData } from './support/gateway-process.js';
import { launchS3Gateway, type S3GatewayInstance } from './support/s3-gateway.js';
import {
  awsEnv,
  boto3Env,
  makeTree,
  mustRun,
  rcloneEnv,
  runTool,
  s3cmdConfig,
  sha256File,
  treeDigest,
  type S3Target,
} from './support/s3-tools.js';

/**
 * Real S3 tools end to end against the built gateway's S3 listener (its own process, as `npm start`
 * runs it): aws-cli v2, rclone, s3cmd and boto3 from Debian, each with its configuration in a temp
 * folder. Every transfer is compared byte for byte (sha256 of each file).
 */
const MiB = 1024 * 1024;
// A tool run is a Python or Go process per command, and the machine is shared: generous per-test time.
jest.setTimeout(360_000);
const BOTO3_SCENARIO = path.resolve(import.meta.dirname, '../../test/support/boto3-scenario.py');
const md5Hex = (b: Buffer) => createHash('md5').update(b).digest('hex');

describe('real S3 tools against the S3 endpoint', () => {
  let root: string;
  let gw: S3GatewayInstance;
  let target: S3Target;
  let tree: string;
  let treeSums: Record<string, string>;
  let large: string;

  beforeAll(async () => {
    root = mkdtempSync(path.join(tmpdir(), 'jcs-s3-tools-'));
    gw = await launchS3Gateway();
    const endpoint = gw.s3Endpoint;
    const tenant = await gw.createTenant('s3-tools-' + randomBytes(3).toString('hex'));
    target = { endpoint, accessKey: tenant.accessKey, secretKey: tenant.secretKey };
    tree = path.join(root, 'tree');
    makeTree(tree, { smallFiles: 300, largeBytes: 20 * MiB });
    treeSums = await treeDigest(tree);
    large = path.join(tree, 'large.bin');
  }, 120_000);

  afterAll(async () => {
    if (gw?.alive()) await gw.kill('SIGTERM');
    if (gw) await dropGatewayData(gw.dbName, gw.dataDir);
    if (root) rmSync(root, { recursive: true, force: true });
  });

  /** A fresh folder for one tool's configuration and downloads. */
  const home = (label: string) => mkdtempSync(path.join(root, `${label}-`));

  describe('aws-cli', () => {
    let env: NodeJS.ProcessEnv;
    const aws = (...args: string[]) => mustRun('aws', ['--endpoint-url', target.endpoint, '--no-cli-pager', ...args], { env });
    const s3api = async (...args: string[]) => JSON.parse((await aws('s3api', ...args, '--output', 'json')).stdout || '{}');

    beforeAll(() => {
      env = awsEnv(target, home('aws'));
    });

    it('s3 mb, cp of a 20 MiB file (aws-cli multipart) and back', async () => {
      await aws('s3', 'mb', 's3://aws-cp');
      await aws('s3', 'cp', large, 's3://aws-cp/big/large.bin');
      const head = await s3api('head-object', '--bucket', 'aws-cp', '--key', 'big/large.bin');
      expect(head.ContentLength).toBe(20 * MiB);
      // aws-cli splits at 8 MiB (multipart_chunksize), so 20 MiB takes three parts.
      expect(head.ETag).toMatch(/^"[0-9a-f]{32}-3"$/);
      const back = path.join(root, 'aws-large.back');
      await aws('s3', 'cp', 's3://aws-cp/big/large.bin', back);
      expect(await sha256File(back)).toBe(treeSums['large.bin']);
    });

    it('s3 cp of a small file: ETag is its MD5; odd key names survive', async () => {
      const small = path.join(root, 'aws-small.txt');
      const bytes = randomBytes(4321);
      writeFileSync(small, bytes);
      for (const key of ['plain.txt', 'with space/+plus%percent ü.txt']) {
        await aws('s3', 'cp', small, `s3://aws-cp/${key}`);
        const head = await s3api('head-object', '--bucket', 'aws-cp', '--key', key);
        expect(head.ETag).toBe(`"${md5Hex(bytes)}"`);
        const back = path.join(root, 'aws-small.back');
        await aws('s3', 'cp', `s3://aws-cp/${key}`, back);
        expect(readFileSync(back)).toEqual(bytes);
      }
      const ls = (await aws('s3', 'ls', 's3://aws-cp/with space/')).stdout;
      expect(ls).toContain('+plus%percent ü.txt');
    });

    it('s3 sync of the tree up and down, ls and rm --recursive', async () => {
      await aws('s3', 'mb', 's3://aws-sync');
      await aws('s3', 'sync', tree, 's3://aws-sync/t');
      const listed = (await aws('s3', 'ls', '--recursive', 's3://aws-sync/t/')).stdout.trim().split('\n');
      expect(listed).toHaveLength(Object.keys(treeSums).length);
      const down = path.join(home('aws-down'), 'tree');
      await aws('s3', 'sync', 's3://aws-sync/t', down);
      expect(await treeDigest(down)).toEqual(treeSums);
      // A second sync has nothing to do.
      expect((await aws('s3', 'sync', tree, 's3://aws-sync/t')).stdout.trim()).toBe('');
      const top = (await aws('s3', 'ls', 's3://aws-sync/t/')).stdout;
      expect(top).toMatch(/PRE d0\//);
      expect(top).toMatch(/PRE odd names\+%\//);
      await aws('s3', 'rm', '--recursive', 's3://aws-sync/t/');
      expect((await runTool('aws', ['--endpoint-url', target.endpoint, 's3', 'ls', '--recursive', 's3://aws-sync/t/'], { env })).stdout.trim()).toBe('');
      const buckets = (await aws('s3', 'ls')).stdout;
      expect(buckets).toContain('aws-sync');
      await aws('s3', 'rb', 's3://aws-sync');
      expect((await aws('s3', 'ls')).stdout).not.toContain('aws-sync');
    });

    it('s3api multipart by hand: create, upload-part ×2, list-parts, complete, get', async () => {
      const dir = home('aws-mp');
      const part1 = randomBytes(5 * MiB);
      const part2 = randomBytes(MiB + 17);
      writeFileSync(path.join(dir, 'p1'), part1);
      writeFileSync(path.join(dir, 'p2'), part2);
      const { UploadId } = await s3api('create-multipart-upload', '--bucket', 'aws-cp', '--key', 'mp/hand.bin', '--content-type', 'application/x-hand');
      expect(UploadId).toEqual(expect.any(String));
      const e1 = (await s3api('upload-part', '--bucket', 'aws-cp', '--key', 'mp/hand.bin', '--upload-id', UploadId, '--part-number', '1', '--body', path.join(dir, 'p1'))).ETag;
      const e2 = (await s3api('upload-part', '--bucket', 'aws-cp', '--key', 'mp/hand.bin', '--upload-id', UploadId, '--part-number', '2', '--body', path.join(dir, 'p2'))).ETag;
      expect([e1, e2]).toEqual([`"${md5Hex(part1)}"`, `"${md5Hex(part2)}"`]);
      // Not visible before Complete.
      const before = await runTool('aws', ['--endpoint-url', target.endpoint, 's3api', 'head-object', '--bucket', 'aws-cp', '--key', 'mp/hand.bin'], { env });
      expect(before.code).not.toBe(0);
      const parts = await s3api('list-parts', '--bucket', 'aws-cp', '--key', 'mp/hand.bin', '--upload-id', UploadId);
      expect(parts.Parts.map((p: any) => [p.PartNumber, p.ETag, p.Size])).toEqual([
        [1, e1, 5 * MiB],
        [2, e2, MiB + 17],
      ]);
      const uploads = await s3api('list-multipart-uploads', '--bucket', 'aws-cp');
      expect(uploads.Uploads.map((u: any) => u.UploadId)).toContain(UploadId);
      const manifest = path.join(dir, 'parts.json');
      writeFileSync(manifest, JSON.stringify({ Parts: [{ PartNumber: 1, ETag: e1 }, { PartNumber: 2, ETag: e2 }] }));
      const done = await s3api('complete-multipart-upload', '--bucket', 'aws-cp', '--key', 'mp/hand.bin', '--upload-id', UploadId, '--multipart-upload', `file://${manifest}`);
      const md5s = Buffer.concat([part1, part2].map((p) => createHash('md5').update(p).digest()));
      expect(done.ETag).toBe(`"${md5Hex(md5s)}-2"`);
      const out = path.join(dir, 'whole');
      const got = await s3api('get-object', '--bucket', 'aws-cp', '--key', 'mp/hand.bin', out);
      expect(got.ContentType).toBe('application/x-hand');
      expect(await sha256File(out)).toBe(createHash('sha256').update(part1).update(part2).digest('hex'));

      // An aborted upload leaves nothing behind.
      const aborted = await s3api('create-multipart-upload', '--bucket', 'aws-cp', '--key', 'mp/aborted.bin');
      await s3api('upload-part', '--bucket', 'aws-cp', '--key', 'mp/aborted.bin', '--upload-id', aborted.UploadId, '--part-number', '1', '--body', path.join(dir, 'p2'));
      await aws('s3api', 'abort-multipart-upload', '--bucket', 'aws-cp', '--key', 'mp/aborted.bin', '--upload-id', aborted.UploadId);
      const gone = await runTool('aws', ['--endpoint-url', target.endpoint, 's3api', 'list-parts', '--bucket', 'aws-cp', '--key', 'mp/aborted.bin', '--upload-id', aborted.UploadId], { env });
      expect(gone.code).not.toBe(0);
      expect(gone.stderr).toContain('NoSuchUpload');
    });

    it('errors are the S3 codes aws-cli shows', async () => {
      const missing = await runTool('aws', ['--endpoint-url', target.endpoint, 's3', 'ls', 's3://no-such-bucket-here/'], { env });
      expect(missing.code).not.toBe(0);
      expect(missing.stderr).toContain('NoSuchBucket');
      const badKey = await runTool('aws', ['--endpoint-url', target.endpoint, 's3', 'ls'], { env: { ...env, AWS_SECRET_ACCESS_KEY: target.secretKey + 'x' } });
      expect(badKey.code).not.toBe(0);
      expect(badKey.stderr).toContain('SignatureDoesNotMatch');
      const noKey = await runTool('aws', ['--endpoint-url', target.endpoint, 's3', 'ls'], { env: { ...env, AWS_ACCESS_KEY_ID: 'AKIDNOSUCHKEY0000000' } });
      expect(noKey.code).not.toBe(0);
      expect(noKey.stderr).toContain('InvalidAccessKeyId');
    });
  });

  describe('rclone', () => {
    let env: NodeJS.ProcessEnv;
    const rclone = (...args: string[]) => mustRun('rclone', ['--retries', '1', '--low-level-retries', '2', '--transfers', '8', '--checkers', '16', ...args], { env });

    beforeAll(() => {
      env = rcloneEnv(target, home('rclone'));
    });

    it('copy up, check, copy down', async () => {
      await rclone('mkdir', 'gw:rclone');
      await rclone('copy', tree, 'gw:rclone/t');
      await rclone('check', tree, 'gw:rclone/t');
      const down = path.join(home('rclone-down'), 'tree');
      await rclone('copy', 'gw:rclone/t', down);
      expect(await treeDigest(down)).toEqual(treeSums);
      // --download compares the bytes themselves, not only sizes and hashes.
      await rclone('check', '--download', down, 'gw:rclone/t');
    });

    it('sync both ways follows changes and deletions', async () => {
      const local = path.join(home('rclone-sync'), 'tree');
      await rclone('copy', 'gw:rclone/t', local);
      unlinkSync(path.join(local, 'd1', 'sub1', 'f1.bin'));
      writeFileSync(path.join(local, 'with space.txt'), randomBytes(999));
      mkdirSync(path.join(local, 'new dir'));
      writeFileSync(path.join(local, 'new dir', 'new+file %.txt'), randomBytes(77));
      await rclone('sync', local, 'gw:rclone/t');
      await rclone('check', local, 'gw:rclone/t');
      const listed = (await rclone('lsf', '-R', '--files-only', 'gw:rclone/t')).stdout.trim().split('\n').sort();
      expect(listed).toEqual(Object.keys(await treeDigest(local)).sort());
      expect(listed).not.toContain('d1/sub1/f1.bin');

      // And back: the remote changes, a sync down follows it.
      const other = path.join(home('rclone-other'), 'tree');
      await rclone('sync', 'gw:rclone/t', other);
      expect(await treeDigest(other)).toEqual(await treeDigest(local));
      await rclone('deletefile', 'gw:rclone/t/new dir/new+file %.txt');
      await rclone('copyto', path.join(tree, 'd2', 'sub2', 'f2.bin'), 'gw:rclone/t/moved/f2.bin');
      await rclone('sync', 'gw:rclone/t', other);
      await rclone('check', other, 'gw:rclone/t');
      const after = await treeDigest(other);
      expect(after['new dir/new+file %.txt']).toBeUndefined();
      expect(after['moved/f2.bin']).toBe(treeSums['d2/sub2/f2.bin']);
    });

    it('purge removes the bucket', async () => {
      await rclone('purge', 'gw:rclone');
      const dirs = (await rclone('lsd', 'gw:')).stdout;
      expect(dirs).not.toMatch(/\srclone$/m);
    });
  });

  describe('s3cmd', () => {
    let env: NodeJS.ProcessEnv;
    let config: string;
    const s3cmd = (...args: string[]) => mustRun('s3cmd', ['-c', config, ...args], { env });

    beforeAll(() => {
      ({ env, config } = s3cmdConfig(target, home('s3cmd')));
    });

    it('mb, put, ls, get, del, rb', async () => {
      await s3cmd('mb', 's3://s3cmd-b');
      const files = ['large.bin', 'with space.txt', 'plus+sign.txt', 'per%cent.txt', 'ünïcødé ファイル.txt', 'd3/sub0/f3.bin'];
      for (const f of files) await s3cmd('put', path.join(tree, f), `s3://s3cmd-b/up/${f}`);
      const ls = (await s3cmd('ls', '-r', 's3://s3cmd-b/up/')).stdout;
      for (const f of files) expect(ls).toContain(`s3://s3cmd-b/up/${f}`);
      const down = home('s3cmd-down');
      for (const f of files) {
        const out = path.join(down, f.replace(/\//g, '_'));
        await s3cmd('get', `s3://s3cmd-b/up/${f}`, out);
        expect(await sha256File(out)).toBe(treeSums[f]);
      }
      // Not empty yet: rb refuses (BucketNotEmpty).
      const refused = await runTool('s3cmd', ['-c', config, 'rb', 's3://s3cmd-b'], { env });
      expect(refused.code).not.toBe(0);
      expect(refused.stderr + refused.stdout).toMatch(/BucketNotEmpty/);
      for (const f of files) await s3cmd('del', `s3://s3cmd-b/up/${f}`);
      expect((await s3cmd('ls', '-r', 's3://s3cmd-b/')).stdout.trim()).toBe('');
      await s3cmd('rb', 's3://s3cmd-b');
      expect((await s3cmd('ls')).stdout).not.toContain('s3://s3cmd-b');
    });
  });

  describe('boto3', () => {
    it('put, get, list, presigned GET and PUT, multipart upload_file, delete', async () => {
      const dir = home('boto3');
      const bigFile = path.join(dir, 'large.bin');
      writeFileSync(bigFile, randomBytes(11 * MiB + 5));
      const run = await mustRun('python3', [BOTO3_SCENARIO, 'boto3-b', dir, bigFile], { env: boto3Env(target, dir) });
      const out = JSON.parse(run.stdout.trim().split('\n').pop()!);
      expect(out.listDelimited).toEqual({ keys: ['py/one.bin'], prefixes: ['py/many/'] });
      const many = [0, 1, 2, 3, 4].map((i) => `py/many/k${i} +%.txt`);
      expect(out.listPaged).toEqual(many);
      expect(out.largeETag).toMatch(/^"[0-9a-f]{32}-3"$/);
      expect(out.largeLength).toBe(11 * MiB + 5);
      expect(out.largeSha256).toBe(await sha256File(bigFile));
      expect(out.afterDelete).toBe('NoSuchKey');
      expect(out.missingBucket).toBe('NoSuchBucket');
      expect(out.deletedMany).toEqual(many);
    });
  });

  it('the gateway is alive and printed no error', () => {
    expect(gw.alive()).toBe(true);
    expect(gw.output()).not.toMatch(/"level":(50|60)/);
  });
});
