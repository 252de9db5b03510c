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

/** The one target the JSON output compares against issue #3. */
export interface TargetCheck {
  figure: string;
  value: number | null;
  target: string;
  met: boolean;
}

export const check = (figure: string, value: number | null, op: '>=' | '<=', bound: number): TargetCheck => ({
  figure,
  value,
  target: `${op} ${bound}`,
  met: value !== null && Number.isFinite(value) && (op === '>=' ? value >= bound : value <= bound),
});

/** A bucket and a package in it, through the API; returns the packageID. */
export async function newPackage(client: BenchClient, bucket: string, pkg: string): Promise<number> {
  const b = await client.postJson<{ bucket: { bucketID: number } }>('/v1/bucket/create', { name: bucket });
  const p = await client.postJson<{ package: { packageID: number } }>('/v1/package/create', { bucketID: b.bucket.bucketID, name: pkg });
  return p.package.packageID;
}
