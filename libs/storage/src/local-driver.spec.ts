import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { expectCode, keysUnder, readAll, runDriverContract } from './driver.contract.js';
import { LocalDriver } from './local-driver.js';

/** Every file under `dir`, recursively, as paths relative to it. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => !e.isDirectory()).map((e) => join(e.parentPath, e.name).slice(dir.length + 1));
}

let rootForLeftovers = '';
runDriverContract(
  'Local',
  async () => {
    const root = await mkdtemp(join(tmpdir(), 'local-driver-'));
    rootForLeftovers = root;
    return { driver: new LocalDriver({ rootDir: root }), cleanup: () => rm(root, { recursive: true, force: true }) };
  },
  {
    assertNoLeftovers: async () => {
      expect((await filesUnder(rootForLeftovers)).filter((f) => /(^|\/)\.tmp-/.test(f))).toEqual([]);
    },
  },
);

describe('Local driver on the file system', () => {
  let base: string;
  let root: string;
  let outside: string;
  let d: LocalDriver;

  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), 'local-driver-fs-'));
    root = join(base, 'root');
    outside = join(base, 'outside');
    await mkdir(root);
    await mkdir(outside);
    await writeFile(join(outside, 'secret.txt'), 'secret');
    await symlink(outside, join(root, 'escape')); // a folder symlink leading out
    await symlink(join(outside, 'secret.txt'), join(root, 'secret-link')); // a file symlink leading out
    await symlink(join(outside, 'nowhere'), join(root, 'dangling'));
    await mkdir(join(root, 'inside'));
    await writeFile(join(root, 'inside', 'real.txt'), 'real');
    await symlink(join(root, 'inside', 'real.txt'), join(root, 'inside', 'alias.txt')); // stays inside
    d = new LocalDriver({ rootDir: root });
  });
  afterAll(async () => {
    await rm(base, { recursive: true, force: true });
  });

  it('refuses reads, writes, moves, deletes and listings through a folder symlink leading outside', async () => {
    const body = () => Readable.from([Buffer.from('x')]);
    await expectCode(d.createReadStream('escape/secret.txt'), 'BadArgument');
    await expectCode(d.head('escape/secret.txt'), 'BadArgument');
    await expectCode(d.write('escape/new.txt', body(), { size: 1 }), 'BadArgument');
    await expectCode(d.write('escape/deeper/new.txt', body()), 'BadArgument');
    await expectCode(d.delete('escape/secret.txt'), 'BadArgument');
    await expectCode(d.move('escape/secret.txt', 'stolen.txt'), 'BadArgument');
    await expectCode(keysUnder(d, 'escape/'), 'BadArgument');
    await expectCode(keysUnder(d, 'escape/sec'), 'BadArgument');
    expect(await readdir(outside)).toEqual(['secret.txt']);
    expect(await readFile(join(outside, 'secret.txt'), 'utf8')).toBe('secret');
  });

  it('refuses a key that is itself a symlink to a file outside, and a dangling symlink', async () => {
    await expectCode(d.createReadStream('secret-link'), 'BadArgument');
    await expectCode(d.head('secret-link'), 'BadArgument');
    await expectCode(d.write('secret-link', Readable.from([Buffer.from('pwned')]), { size: 5 }), 'BadArgument');
    await expectCode(d.delete('secret-link'), 'BadArgument');
    await expectCode(d.createReadStream('dangling'), 'BadArgument');
    await expectCode(d.write('dangling', Readable.from([Buffer.from('x')]), { size: 1 }), 'BadArgument');
    await expectCode(d.write('dangling/x', Readable.from([Buffer.from('x')]), { size: 1 }), 'BadArgument');
    expect(await readFile(join(outside, 'secret.txt'), 'utf8')).toBe('secret');
    expect(await readdir(outside)).toEqual(['secret.txt']);
  });

  it('small in-memory reads follow the same symlink rules, also in a folder it has just checked', async () => {
    for (let i = 0; i < 2; i++) {
      // The second round runs with the folders recently verified: the no-follow open must still refuse.
      await expectCode(d.readBytes('secret-link', { expectedSize: 6 }), 'BadArgument');
      await expectCode(d.readBytes('dangling', { expectedSize: 1 }), 'BadArgument');
      expect((await d.readBytes('inside/alias.txt', { expectedSize: 4 })).toString()).toBe('real');
      expect((await d.readBytes('inside/real.txt', { expectedSize: 4 })).toString()).toBe('real');
    }
  });

  it('lists the root without following links outside; a symlink to a file inside is an object', async () => {
    const keys = await keysUnder(d, '');
    expect(keys).toEqual(['inside/alias.txt', 'inside/real.txt']);
    expect((await readAll(await d.createReadStream('inside/alias.txt'))).toString()).toBe('real');
  });

  it('hides its temp files from listings and never leaves them after a failure', async () => {
    await writeFile(join(root, 'inside', '.tmp-0123456789abcdef01234567'), 'half-written');
    expect(await keysUnder(d, 'inside/')).toEqual(['inside/alias.txt', 'inside/real.txt']);
    await rm(join(root, 'inside', '.tmp-0123456789abcdef01234567'));
  });

  it('removes folders a delete or move leaves empty, up to the root', async () => {
    await d.write('prune/a/b/c/obj', Readable.from([Buffer.from('1')]), { size: 1 });
    await d.write('prune/keep', Readable.from([Buffer.from('2')]), { size: 1 });
    await d.move('prune/a/b/c/obj', 'prune/moved');
    expect(await readdir(join(root, 'prune'))).toEqual(['keep', 'moved']);
    await d.delete('prune/keep');
    await d.delete('prune/moved');
    expect(await readdir(root)).not.toContain('prune');
  });

  it('keeps the folder named in keepDirs (and those above it) when a delete or move empties it', async () => {
    await d.write('keep/tmp/me/a', Readable.from([Buffer.from('1')]), { size: 1 });
    await d.write('keep/tmp/me/b', Readable.from([Buffer.from('2')]), { size: 1 });
    await d.move('keep/tmp/me/a', 'keep/blocks/xx/a', { keepDirs: 'keep/tmp/me' });
    await d.delete('keep/tmp/me/b', { keepDirs: 'keep/tmp/me' });
    expect(await readdir(join(root, 'keep', 'tmp', 'me'))).toEqual([]);
    await d.delete('keep/blocks/xx/a', { keepDirs: 'keep/blocks/xx' });
    expect(await readdir(join(root, 'keep', 'blocks', 'xx'))).toEqual([]);
    await rm(join(root, 'keep'), { recursive: true });
  });

  it('writes an exclusive key in place: no temp file, an existing key refused, a failed body leaves nothing', async () => {
    const body = new PassThrough();
    const writing = d.write('excl/one', body, { exclusive: true });
    body.write('partial');
    await new Promise((r) => setTimeout(r, 50));
    // While it streams, the file is visible under its own name (what a crash would leave).
    expect(await readdir(join(root, 'excl'))).toEqual(['one']);
    body.end('!');
    await writing;
    expect(await readFile(join(root, 'excl', 'one'), 'utf8')).toBe('partial!');
    await expectCode(d.write('excl/one', Readable.from([Buffer.from('x')]), { exclusive: true }), 'OperationFailed');
    expect(await readFile(join(root, 'excl', 'one'), 'utf8')).toBe('partial!');
    const failing = new PassThrough();
    const failed = d.write('excl/two', failing, { exclusive: true, size: 10 });
    failing.end('short');
    await expectCode(failed, 'BadArgument');
    expect(await readdir(join(root, 'excl'))).toEqual(['one']);
    await rm(join(root, 'excl'), { recursive: true });
  });

  it('refuses a write below an existing object (a file cannot be a folder) with OperationFailed', async () => {
    await d.write('file-not-dir', Readable.from([Buffer.from('1')]), { size: 1 });
    await expectCode(d.write('file-not-dir/child', Readable.from([Buffer.from('1')]), { size: 1 }), 'OperationFailed');
    expect(await d.head('file-not-dir/child')).toBeNull();
    await d.delete('file-not-dir');
  });

  it('needs an absolute root, and fails test() with OperationFailed when the root is missing', async () => {
    expect(() => new LocalDriver({ rootDir: 'relative/dir' })).toThrow(expect.objectContaining({ code: 'BadArgument' }));
    const missing = new LocalDriver({ rootDir: join(base, 'not-mounted') });
    await expectCode(missing.test(''), 'OperationFailed');
    await expectCode(missing.write('x', Readable.from([Buffer.from('x')]), { size: 1 }), 'OperationFailed');
    expect(await readdir(base)).not.toContain('not-mounted'); // never created behind the caller's back
  });
});
