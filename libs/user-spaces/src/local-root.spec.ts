import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { overlaps, realpathExisting, resolveHostRoot } from './local-root.js';

describe('Local roots on the host', () => {
  let base: string;
  beforeAll(() => {
    base = realpathSync(mkdtempSync(path.join(tmpdir(), 'jcs-local-root-')));
    mkdirSync(path.join(base, 'data', 'tenants', '1'), { recursive: true });
    mkdirSync(path.join(base, 'outside', 'x'), { recursive: true });
    mkdirSync(path.join(base, 'allowed'), { recursive: true });
    symlinkSync(path.join(base, 'outside'), path.join(base, 'data', 'tenants', '1', 'escape'));
    symlinkSync(path.join(base, 'outside'), path.join(base, 'allowed', 'escape'));
  });
  afterAll(() => rmSync(base, { recursive: true, force: true }));
  const opts = () => ({ dataDir: path.join(base, 'data'), userId: 1, allowedRoots: [path.join(base, 'allowed')] });

  it('realpathExisting resolves the existing part and keeps the rest as written', async () => {
    expect(await realpathExisting(path.join(base, 'data', 'tenants', '1', 'escape', 'x', 'not', 'yet'))).toBe(path.join(base, 'outside', 'x', 'not', 'yet'));
    expect(await realpathExisting(path.join(base, 'nothing', 'here'))).toBe(path.join(base, 'nothing', 'here'));
  });

  it('refuses a root that leaves the allowed folders through a symlink (relative or absolute)', async () => {
    await expect(resolveHostRoot('escape/x', opts())).rejects.toMatchObject({ code: 'BadArgument' });
    await expect(resolveHostRoot(path.join(base, 'allowed', 'escape'), opts())).rejects.toMatchObject({ code: 'BadArgument' });
    expect(await resolveHostRoot('photos', opts())).toBe(path.join(base, 'data', 'tenants', '1', 'photos'));
    expect(await resolveHostRoot(path.join(base, 'allowed', 'new'), opts())).toBe(path.join(base, 'allowed', 'new'));
  });

  it('overlaps means equal or nested, not a common string prefix', () => {
    expect(overlaps('/a/b', '/a/b')).toBe(true);
    expect(overlaps('/a/b', '/a/b/c')).toBe(true);
    expect(overlaps('/a/b/c', '/a')).toBe(true);
    expect(overlaps('/a/b', '/a/bc')).toBe(false);
    expect(overlaps('/', '/anything')).toBe(true);
  });
});
