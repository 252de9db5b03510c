import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './support/ports.js';
import { BASE_DATABASE_URL, dropDatabase } from './support/gateway.js';
import { SignedClient } from './support/signed-client.js';

const run = promisify(execFile);
// The compiled programs next to this compiled test (dist/test → dist/apps).
const CLI = path.resolve(import.meta.dirname, '../apps/cli/src/main.js');
const GATEWAY = path.resolve(import.meta.dirname, '../apps/gateway/src/main.js');

async function waitForHealthy(port: number, child: ReturnType<typeof spawn>, output: () => string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) return;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`gateway did not start:\n${output()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The built programs, run as an operator runs them: separate processes, real env, real services. */
describe('CLI and start-up', () => {
  const dbName = `jcs_test_cli_${randomBytes(4).toString('hex')}`;
  const dbUrl = Object.assign(new URL(BASE_DATABASE_URL), { pathname: '/' + dbName }).toString();
  const dataDir = mkdtempSync(path.join(tmpdir(), 'jcs-cli-'));
  const env = { ...process.env, DATABASE_URL: dbUrl, JCS_DATA_DIR: dataDir, LOG_LEVEL: 'warn', JCS_QUEUE_PREFIX: dbName, JCS_S3_PORT: '0' };
  const cli = (...args: string[]) => run('node', [CLI, ...args], { env });

  afterAll(async () => {
    await dropDatabase(dbName);
    rmSync(dataDir, { recursive: true, force: true });
  });

  let created: { userID: number; name: string; accessKey: string; secretKey: string };

  it('user create prints exactly one line of JSON (creating the database on first use)', async () => {
    const { stdout } = await cli('user', 'create', '--name', 'carol');
    const lines = stdout.split('\n').filter((l) => l !== '');
    expect(lines).toHaveLength(1);
    created = JSON.parse(lines[0]!);
    expect(Object.keys(created)).toEqual(['userID', 'name', 'accessKey', 'secretKey']);
    expect(created).toEqual({ userID: expect.any(Number), name: 'carol', accessKey: expect.stringMatching(/^JCS[A-Z0-9]{17}$/), secretKey: expect.any(String) });
  });

  it('user create refuses a duplicate name with exit code 1 and one line on stderr', async () => {
    await expect(cli('user', 'create', '--name', 'carol')).rejects.toMatchObject({ code: 1, stderr: expect.stringContaining('already exists') });
  });

  it('user list, key create and key revoke print JSON', async () => {
    const listed = JSON.parse((await cli('user', 'list')).stdout);
    expect(listed.users).toEqual([expect.objectContaining({ userID: created.userID, name: 'carol', accessKeys: [created.accessKey] })]);
    const key = JSON.parse((await cli('key', 'create', '--user', String(created.userID))).stdout);
    expect(key).toEqual({ userID: created.userID, accessKey: expect.any(String), secretKey: expect.any(String) });
    const revoked = JSON.parse((await cli('key', 'revoke', '--access-key', key.accessKey)).stdout);
    expect(revoked).toEqual({ revoked: key.accessKey });
    await expect(cli('key', 'revoke', '--access-key', key.accessKey)).rejects.toMatchObject({ code: 1 });
  });

  it('answers bad usage with exit code 2', async () => {
    await expect(cli('frobnicate')).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining('usage') });
    await expect(cli('key', 'create')).rejects.toMatchObject({ code: 2 });
  });

  describe('the gateway process', () => {
    let child: ReturnType<typeof spawn> | undefined;
    let output = '';
    let port = 0;

    beforeAll(async () => {
      port = await freePort();
      child = spawn('node', [GATEWAY, '--with-worker'], { env: { ...env, PORT: String(port), HOST: '127.0.0.1' }, stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout!.on('data', (d) => (output += d));
      child.stderr!.on('data', (d) => (output += d));
      await waitForHealthy(port, child, () => output);
    });

    it('serves a key made by the CLI', async () => {
      const c = new SignedClient(`http://127.0.0.1:${port}`, created);
      const res = await c.post('/v1/bucket/create', { name: 'from-cli-key' });
      expect(res.body.code).toBe('OK');
    });

    it('did not create an admin: the database already had a user', () => {
      expect(output).not.toContain('admin tenant created');
    });

    it('stops on SIGTERM after closing its connections', async () => {
      const exited = new Promise<{ code: number | null; signal: string | null }>((r) =>
        child!.once('exit', (code, signal) => r({ code, signal })),
      );
      child!.kill('SIGTERM');
      expect(await exited).toEqual({ code: 0, signal: null });
      expect(output).not.toMatch(/error/i);
    });
  });

  it('creates the admin tenant on first start with an empty database, saved with mode 0600', async () => {
    const freshDb = `jcs_test_admin_${randomBytes(4).toString('hex')}`;
    const freshDir = mkdtempSync(path.join(tmpdir(), 'jcs-admin-'));
    const port = await freePort();
    const child = spawn('node', [GATEWAY], {
      env: { ...env, DATABASE_URL: Object.assign(new URL(BASE_DATABASE_URL), { pathname: '/' + freshDb }).toString(), JCS_DATA_DIR: freshDir, PORT: String(port), HOST: '127.0.0.1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    try {
      await waitForHealthy(port, child, () => out);
      const printed = JSON.parse(/admin tenant created: (\{.*\})/.exec(out)![1]!);
      const saved = JSON.parse(readFileSync(path.join(freshDir, 'admin.json'), 'utf8'));
      expect(saved).toEqual({ ...printed, name: 'admin' });
      expect(statSync(path.join(freshDir, 'admin.json')).mode & 0o777).toBe(0o600);
      expect(statSync(path.join(freshDir, 'master.key')).mode & 0o777).toBe(0o600);
      expect(out).toContain('JCS_MASTER_KEY is not set');
      const c = new SignedClient(`http://127.0.0.1:${port}`, saved);
      expect((await c.get('/v1/bucket/listAll')).body).toEqual({ code: 'OK', message: '', data: { buckets: [] } });
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      await dropDatabase(freshDb);
      rmSync(freshDir, { recursive: true, force: true });
    }
  });

  it.each([
    ['an invalid PORT', { PORT: 'abc' }, /invalid configuration: PORT/],
    ['a bad master key', { JCS_MASTER_KEY: 'short' }, /JCS_MASTER_KEY: must be 32 bytes/],
    ['unreachable PostgreSQL', { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/jcs' }, /cannot reach PostgreSQL at postgres:\/\/postgres@127\.0\.0\.1:1\/jcs .*docker compose up -d/],
    ['unreachable Redis', { REDIS_URL: 'redis://127.0.0.1:1' }, /cannot reach Redis at redis:\/\/127\.0\.0\.1:1 .*docker compose up -d/],
  ])('fails start-up on %s with one clear line', async (_label, extra, pattern) => {
    const err = await run('node', [GATEWAY], { env: { ...env, ...extra } }).then(
      () => null,
      (e: { code: number; stdout: string; stderr: string }) => e,
    );
    expect(err).not.toBeNull();
    expect(err!.code).toBe(1);
    const lines = err!.stderr.split('\n').filter((l) => l !== '');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(pattern);
    expect(err!.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });
});
