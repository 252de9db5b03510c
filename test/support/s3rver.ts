import type { Server } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The parts of s3rver 3.7 (CommonJS, untyped: `module.exports = S3rver`) used here. */
interface S3rverInstance {
  run(): Promise<{ address: string; port: number }>;
  close(): Promise<void>;
  httpServer?: Server;
}
type S3rverConstructor = new (options: {
  address: string;
  port: number;
  silent: boolean;
  directory: string;
  allowMismatchedSignatures: boolean;
  resetOnClose?: boolean;
  configureBuckets: { name: string; configs: string[] }[];
}) => S3rverInstance;

const S3rver = createRequire(import.meta.url)('s3rver') as S3rverConstructor;

export interface RunningS3rver {
  /** `http://127.0.0.1:PORT`: an IP host, so both the AWS SDK (with forcePathStyle) and the OBS SDK use path-style URLs. */
  endpoint: string;
  port: number;
  /** The server's data folder (a fresh temp folder, removed by stop()). */
  dir: string;
  stop(): Promise<void>;
}

/**
 * Starts s3rver in-process on 127.0.0.1 and a random port, storing in a fresh temp folder, with the
 * given buckets. It does not check signatures. Listing past 1,000 keys needs the hosting Node process
 * to run with --openssl-legacy-provider (its continuation token uses DES).
 */
export async function startS3rver(opts: { buckets?: string[] } = {}): Promise<RunningS3rver> {
  const dir = await mkdtemp(join(tmpdir(), 's3rver-'));
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory: dir,
    allowMismatchedSignatures: true,
    configureBuckets: (opts.buckets ?? []).map((name) => ({ name, configs: [] })),
  });
  let port: number;
  try {
    ({ port } = await server.run());
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  let stopped = false;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    dir,
    async stop() {
      if (stopped) return;
      stopped = true;
      server.httpServer?.closeAllConnections();
      await server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
