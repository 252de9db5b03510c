/**
 * Worker-thread side of the codec pool: receives {id, rows, nIn, nOut, length, input} (input: nIn
 * blocks back to back in a transferred ArrayBuffer), answers {id, output} (nOut blocks back to back,
 * transferred, with the input handed back) or {id, error}. One job at a time per thread, each on the SIMD kernel.
 */
import { parentPort } from 'node:worker_threads';
import { SimdKernel } from './simd-kernel.js';

export interface CodecJob {
  id: number;
  rows: Uint8Array;
  nIn: number;
  nOut: number;
  length: number;
  input: ArrayBuffer;
}

/** The input comes back (transferred) with the answer so the pool can reuse it. */
export type CodecReply = { id: number; output: ArrayBuffer; input: ArrayBuffer } | { id: number; error: string };

if (parentPort) {
  const port = parentPort;
  const kernel = new SimdKernel();
  port.on('message', (job: CodecJob) => {
    try {
      const { nIn, nOut, length } = job;
      const inputs = Array.from({ length: nIn }, (_, i) => new Uint8Array(job.input, i * length, length));
      const output = new ArrayBuffer(nOut * length);
      const outputs = Array.from({ length: nOut }, (_, j) => new Uint8Array(output, j * length, length));
      kernel.multiply(job.rows, nIn, nOut, inputs, outputs, length);
      port.postMessage({ id: job.id, output, input: job.input } satisfies CodecReply, [output, job.input]);
    } catch (e) {
      port.postMessage({ id: job.id, error: e instanceof Error ? e.message : String(e) } satisfies CodecReply);
    }
  });
}
