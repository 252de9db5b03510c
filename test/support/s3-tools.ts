import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';

/**
 * Real S3 client tools (Debian's awscli, rclone, s3cmd and python3-boto3, which `.ci/run` installs)
 * run as child processes against an S3 endpoint, with every file of configuration in a temp folder:
 * HOME points there, so nothing of the user's ~/.aws, ~/.s3cfg or rclone.conf is read or written.
 */
export interface S3Target {
  /** `http://127.0.0.1:PORT` (path-style). */
  endpoint: string;
  accessKey: string;
  secretKey: string;
  region?: string;
}

export interface ToolRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Debian's binaries first: a pyenv or pip shim earlier on PATH may be another version of the tool. */
export function toolPath(name: string): string {
  const debian = `/usr/bin/${name}`;
  return existsSync(debian) ? debian : name;
}

/** Runs a tool to its end (killed after timeoutMs) and resolves with its exit code and output. */
export function runTool(cmd: string, args: string[], opts: { env: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number; input?: string }): Promise<ToolRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(toolPath(cmd), args, { env: opts.env, cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      stderr += `\n[killed after ${opts.timeoutMs ?? 180_000} ms]`;
      child.kill('SIGKILL');
    }, opts.timeoutMs ?? 180_000);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(opts.input ?? '');
  });
}

/** Like runTool, but a non-zero exit is an error naming the command and its output. */
export async function mustRun(cmd: string, args: string[], opts: Parameters<typeof runTool>[2]): Promise<ToolRun> {
  const r = await runTool(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}\nstdout: ${r.stdout.slice(-3000)}\nstderr: ${r.stderr.slice(-3000)}`);
  return r;
}

/** A bare environment for a tool: PATH, a temp HOME, no proxy, nothing of the caller's AWS settings. */
function baseEnv(home: string): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8', TMPDIR: home };
}

/** aws-cli v2: credentials by env vars, path-style addressing and no pager from a config file in `home`. */
export function awsEnv(t: S3Target, home: string): NodeJS.ProcessEnv {
  const config = path.join(home, 'aws-config');
  writeFileSync(config, `[default]\nregion = ${t.region ?? 'us-east-1'}\ns3 =\n  addressing_style = path\n`);
  return {
    ...baseEnv(home),
    AWS_ACCESS_KEY_ID: t.accessKey,
    AWS_SECRET_ACCESS_KEY: t.secretKey,
    AWS_DEFAULT_REGION: t.region ?? 'us-east-1',
    AWS_CONFIG_FILE: config,
    AWS_SHARED_CREDENTIALS_FILE: path.join(home, 'aws-credentials-none'),
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_PAGER: '',
  };
}

/** rclone: a remote `gw:` configured only by environment variables (an empty config file). */
export function rcloneEnv(t: S3Target, home: string): NodeJS.ProcessEnv {
  const config = path.join(home, 'rclone.conf');
  writeFileSync(config, '');
  return {
    ...baseEnv(home),
    RCLONE_CONFIG: config,
    RCLONE_CONFIG_GW_TYPE: 's3',
    RCLONE_CONFIG_GW_PROVIDER: 'Other',
    RCLONE_CONFIG_GW_ENDPOINT: t.endpoint,
    RCLONE_CONFIG_GW_ACCESS_KEY_ID: t.accessKey,
    RCLONE_CONFIG_GW_SECRET_ACCESS_KEY: t.secretKey,
    RCLONE_CONFIG_GW_REGION: t.region ?? 'us-east-1',
    RCLONE_CONFIG_GW_FORCE_PATH_STYLE: 'true',
  };
}

/** s3cmd: a config file (SigV4, plain HTTP, path-style through host_bucket without `%(bucket)s`). */
export function s3cmdConfig(t: S3Target, home: string): { env: NodeJS.ProcessEnv; config: string } {
  const host = new URL(t.endpoint).host;
  const config = path.join(home, 's3cfg');
  writeFileSync(
    config,
    [
      '[default]',
      `access_key = ${t.accessKey}`,
      `secret_key = ${t.secretKey}`,
      `host_base = ${host}`,
      `host_bucket = ${host}`,
      `bucket_location = ${t.region ?? 'us-east-1'}`,
      'use_https = False',
      'signature_v2 = False',
      'check_ssl_certificate = False',
      'guess_mime_type = True',
      'progress_meter = False',
      '',
    ].join('\n'),
  );
  return { env: baseEnv(home), config };
}

/** The environment for a Python script using boto3 (the target passed by env vars). */
export function boto3Env(t: S3Target, home: string): NodeJS.ProcessEnv {
  return { ...awsEnv(t, home), S3_ENDPOINT: t.endpoint };
}

export async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Every regular file under `root`, by its path relative to root (`/`-separated), with its sha256. */
export async function treeDigest(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, e.name);
      if (e.isDirectory()) await walk(full);
      else if (e.isFile()) out[path.relative(root, full).split(path.sep).join('/')] = await sha256File(full);
    }
  };
  await walk(root);
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : 1)));
}

/** Names S3 clients tend to get wrong: spaces, Unicode (NFC and a combining mark), `+`, `%`, `&`, `=`. */
export const ODD_NAMES = ['with space.txt', 'plus+sign.txt', 'per%cent.txt', '100%25 encoded.txt', 'a&b=c;d.txt', 'ünïcødé ファイル.txt', 'cafe\u0301.txt', '(paren) [brack] {brace}.txt', "it's ~tilde~.txt"];

/**
 * A tree fixture: nested folders, `smallFiles` small files of varied sizes (some empty), the odd names
 * (also in a nested folder whose own name is odd), and one large file of `largeBytes` bytes.
 */
export function makeTree(root: string, opts: { smallFiles: number; largeBytes: number }): void {
  mkdirSync(root, { recursive: true });
  for (let i = 0; i < opts.smallFiles; i++) {
    const dir = path.join(root, `d${i % 7}`, `sub${i % 3}`, ...(i % 5 === 0 ? ['deeper', 'still deeper'] : []));
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, `f${i}.bin`), randomBytes(i % 11 === 0 ? 0 : 1 + ((i * 997) % 9000)));
  }
  const odd = path.join(root, 'odd names+%', 'ü');
  mkdirSync(odd, { recursive: true });
  for (const name of ODD_NAMES) {
    writeFileSync(path.join(root, name), randomBytes(200));
    writeFileSync(path.join(odd, name), randomBytes(300));
  }
  writeFileSync(path.join(root, 'large.bin'), randomBytes(opts.largeBytes));
}

/** Resolves once something accepts TCP connections on the endpoint's port (the S3 listener may start after /healthz answers). */
export async function waitForListener(endpoint: string, timeoutMs = 30_000): Promise<void> {
  const { hostname, port } = new URL(endpoint);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: hostname, port: Number(port) });
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on ${endpoint}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
