/** Small statistics helpers; latencies in ms, rounded for the report. */

/** Nearest-rank percentile (p in 0..100) of unsorted samples. */
export function percentile(samples: number[], p: number): number {
  if (samples.length === 0) return NaN;
  const s = [...samples].sort((a, b) => a - b);
  const rank = Math.min(s.length, Math.max(1, Math.ceil((p / 100) * s.length)));
  return s[rank - 1];
}

/** Middle value; the mean of the two middle values for an even count. */
export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export const round = (x: number, digits = 3) => (Number.isFinite(x) ? Number(x.toFixed(digits)) : x);

export function latencySummary(ms: number[]) {
  return {
    n: ms.length,
    p50Ms: round(percentile(ms, 50)),
    p90Ms: round(percentile(ms, 90)),
    p99Ms: round(percentile(ms, 99)),
    meanMs: round(ms.reduce((a, b) => a + b, 0) / ms.length),
    maxMs: round(Math.max(...ms)),
  };
}

/** MB/s with MB = 10^6 bytes. */
export const mbPerSec = (bytes: number, ms: number) => round(bytes / 1e6 / (ms / 1000), 1);

export const ratio = (a: number, b: number) => round(a / b, 3);

export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;
