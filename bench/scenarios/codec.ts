import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { CodecPool, decodeRows, encodingMatrix, PooledCodec, referenceCodec, SimdKernel, type ErasureCodec } from '#redundancy';
import { log } from '../processes.js';
import { MiB, round } from '../stats.js';

const MEASURE_MS = 1500;

/** GB/s of wall time and per CPU-second of this process (all threads) while `step` runs repeatedly. */
async function measure(bytesPerStep: number, inFlight: number, step: () => Promise<unknown> | unknown) {
  await step(); // warm-up: JIT tiers, worker start
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let steps = 0;
  const lane = async () => {
    while (performance.now() - t0 < MEASURE_MS) {
      await step();
      steps++;
    }
  };
  await Promise.all(Array.from({ length: inFlight }, lane));
  const wallS = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const cpuS = (cpu.user + cpu.system) / 1e6;
  const bytes = steps * bytesPerStep;
  return { gbPerSec: round(bytes / 1e9 / wallS, 2), gbPerCpuSec: round(bytes / 1e9 / cpuS, 2), steps };
}

function rowsOf(k: number, n: number, lost: number[]): { rows: Uint8Array; use: number[] } {
  // The rows the codec itself uses: over the lowest k present blocks.
  const use = [...Array(n).keys()].filter((i) => !lost.includes(i)).slice(0, k);
  const rows = new Uint8Array(decodeRows(encodingMatrix(k, n), k, use, lost).flatMap((r) => [...r]));
  return { rows, use };
}

/**
 * Issue 9's codec line: encode and reconstruct throughput, in GB of data (k × chunk) per second, for
 * k=4 n=6 with 1 MiB chunks and k=2 n=3 with 5 MiB chunks; single-thread (the SIMD kernel on this
 * thread, copies in and out included) and through the worker pool (2 jobs per thread in flight).
 * Reconstruct loses min(2, n−k) data blocks. "PerCore" divides by the CPU time of this process, all
 * threads: steadier than wall time on the shared 2-core machine.
 */
export async function runCodec() {
  const threads = os.availableParallelism();
  const pool = new CodecPool(threads);
  const out: Record<string, unknown> = { threads };
  try {
    for (const [k, n, chunk] of [
      [4, 6, 1 * MiB],
      [2, 3, 5 * MiB],
    ] as const) {
      const data = Array.from({ length: k }, () => randomBytes(chunk));
      const lost = [0, 1].slice(0, Math.min(2, n - k));
      const kernel = new SimdKernel();
      const parityRows = new Uint8Array(encodingMatrix(k, n).slice(k).flatMap((r) => [...r]));
      const parityOut = Array.from({ length: n - k }, () => new Uint8Array(chunk));
      const { rows: decRows, use } = rowsOf(k, n, lost);
      const codec: ErasureCodec = new PooledCodec(k, n, () => pool);
      const parity = await codec.encode(data);
      const shards: Array<Buffer | null> = [...data, ...parity];
      for (const l of lost) shards[l] = null;
      const present = use.map((i) => shards[i] as Buffer);
      const decOut = lost.map(() => new Uint8Array(chunk));

      const check = await codec.reconstruct(shards, lost);
      if (!check.every((b, j) => b.equals(data[lost[j]]))) throw new Error('codec bench: reconstruct mismatch');

      const bytes = k * chunk;
      const single = {
        encode: await measure(bytes, 1, () => kernel.multiply(parityRows, k, n - k, data, parityOut, chunk)),
        reconstruct: await measure(bytes, 1, () => kernel.multiply(decRows, k, lost.length, present, decOut, chunk)),
      };
      const pooled = {
        encode: await measure(bytes, threads * 2, () => codec.encode(data)),
        reconstruct: await measure(bytes, threads * 2, () => codec.reconstruct(shards, lost)),
      };
      const key = `k${k}n${n}_${chunk / MiB}MiB`;
      out[key] = {
        k,
        n,
        chunkBytes: chunk,
        lostBlocks: lost,
        encodeGBpsPerCoreSingleThread: single.encode.gbPerCpuSec,
        reconstructGBpsPerCoreSingleThread: single.reconstruct.gbPerCpuSec,
        encodeGBpsPerCorePool: pooled.encode.gbPerCpuSec,
        reconstructGBpsPerCorePool: pooled.reconstruct.gbPerCpuSec,
        wall: { single, pooled },
      };
      log(
        `codec ${key}: encode ${single.encode.gbPerCpuSec} GB/s/core single, ${pooled.encode.gbPerCpuSec} pool (${pooled.encode.gbPerSec} GB/s wall); ` +
          `reconstruct ${single.reconstruct.gbPerCpuSec} single, ${pooled.reconstruct.gbPerCpuSec} pool (${pooled.reconstruct.gbPerSec} wall)`,
      );
    }
    // The pure-JS reference (byte at a time), for scale: a small amount is enough.
    const ref = referenceCodec(4, 6);
    const small = Array.from({ length: 4 }, () => randomBytes(256 * 1024));
    const refEncode = await measure(4 * 256 * 1024, 1, () => ref.encode(small));
    out.referenceJsEncodeGBpsPerCore_k4n6 = refEncode.gbPerCpuSec;
    log(`codec: pure-JS reference encode ${refEncode.gbPerCpuSec} GB/s/core`);
  } finally {
    await pool.close();
  }
  return { result: out, targets: [] };
}
