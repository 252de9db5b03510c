import type { BenchClient } from './http-client.js';
import type { BenchEnv, Service } from './processes.js';

/** What every scenario gets: both servers, one client for each (same code), the bench tenant. */
export interface BenchContext {
  env: BenchEnv;
  gateway: Service;
  baseline: Service;
  gw: BenchClient;
  bl: BenchClient;
  userID: number;
  /** Repetitions of each throughput measurement (gateway and baseline alternate within a round). */
  rounds: number;
  bigSize: number;
}

/** One target of an issue and whether this run met it (`figure` is its path in the JSON's figures). */
export interface TargetCheck {
  figure: string;
  value: number | null;
  target: string;
  met: boolean;
  /** The issue that set it (3: first benchmark, 4: S3 spaces, 8: request cost). */
  issue: number;
}

export const check = (figure: string, value: number | null, op: '>=' | '<=', bound: number, issue = 3): TargetCheck => ({
  figure,
  value,
  target: `${op} ${bound}`,
  met: value !== null && Number.isFinite(value) && (op === '>=' ? value >= bound : value <= bound),
  issue,
});

/** A bucket and a package in it, through the API; returns the packageID. */
export async function newPackage(client: BenchClient, bucket: string, pkg: string): Promise<number> {
  const b = await client.postJson<{ bucket: { bucketID: number } }>('/v1/bucket/create', { name: bucket });
  const p = await client.postJson<{ package: { packageID: number } }>('/v1/package/create', { bucketID: b.bucket.bucketID, name: pkg });
  return p.package.packageID;
}
