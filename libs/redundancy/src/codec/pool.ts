import os from 'node:os';
import { Worker } from 'node:worker_threads';
import type { CodecJob, CodecReply } from './codec-worker.js';

interface Pending {
  job: CodecJob;
  resolve: (output: ArrayBuffer) => void;
  reject: (e: Error) => void;
}

interface Slot {
  worker: Worker;
  /** Jobs sent to this worker and not answered yet, by id. */
  inFlight: Map<number, Pending>;
}

/**
 * A small pool of worker threads running the codec kernel, so that encoding never blocks the event
 * loop. Workers are unref()ed (an idle pool never keeps the process alive) but ref()ed while they owe
 * an answer. A worker that dies is replaced; the jobs it held are rejected, never left hanging.
 */
export class CodecPool {
  private readonly slots: Slot[] = [];
  private nextId = 1;
  private readonly workerUrl = new URL('./codec-worker.js', import.meta.url);
  /**
   * Input buffers handed back by the workers, by size: a fresh multi-MiB ArrayBuffer costs more
   * (zeroing, page faults) than the encoding itself. At most FREE_PER_SIZE per size and FREE_BYTES
   * in all are kept (the gateway's RSS budget is 200 MiB for an upload).
   */
  private readonly free = new Map<number, ArrayBuffer[]>();
  private freeBytes = 0;

  constructor(readonly size: number) {
    if (!Number.isInteger(size) || size < 1) throw new Error(`codec pool: size must be a positive integer, got ${size}`);
  }

  /** Runs rows (nOut × nIn) over `input` (nIn blocks of `length` bytes back to back, transferred). */
  run(rows: Uint8Array, nIn: number, nOut: number, length: number, input: ArrayBuffer): Promise<ArrayBuffer> {
    return new Promise((resolve, reject) => {
      const job: CodecJob = { id: this.nextId++, rows, nIn, nOut, length, input };
      const slot = this.pick();
      slot.inFlight.set(job.id, { job, resolve, reject });
      if (slot.inFlight.size === 1) slot.worker.ref();
      try {
        slot.worker.postMessage(job, [input]);
      } catch (e) {
        this.settle(slot, job.id);
        reject(e instanceof Error ? e : new Error(String(e)));
      }
    });
  }

  /** An ArrayBuffer of `bytes` to pack a job's input into (contents undefined: every byte gets overwritten). */
  inputBuffer(bytes: number): ArrayBuffer {
    const ab = this.free.get(bytes)?.pop();
    if (!ab) return new ArrayBuffer(bytes);
    this.freeBytes -= bytes;
    return ab;
  }

  private recycle(ab: ArrayBuffer): void {
    const bytes = ab.byteLength;
    let list = this.free.get(bytes);
    if (!list) {
      list = [];
      this.free.set(bytes, list);
    }
    // Room is made by dropping buffers of other sizes first (the oldest sizes): the current shape wins.
    for (const [size, other] of this.free) {
      if (this.freeBytes + bytes <= FREE_BYTES) break;
      if (size === bytes) continue;
      this.freeBytes -= size * other.length;
      this.free.delete(size);
    }
    if (list.length < FREE_PER_SIZE && this.freeBytes + bytes <= FREE_BYTES) {
      list.push(ab);
      this.freeBytes += bytes;
    }
  }

  /** Terminates every worker; jobs in flight are rejected. */
  async close(): Promise<void> {
    const slots = this.slots.splice(0);
    await Promise.all(
      slots.map(async (s) => {
        s.worker.removeAllListeners();
        this.failAll(s, new Error('erasure codec: pool closed'));
        await s.worker.terminate();
      }),
    );
  }

  /** The least busy worker, starting one while the pool is below its size. */
  private pick(): Slot {
    let best: Slot | undefined;
    for (const s of this.slots) if (!best || s.inFlight.size < best.inFlight.size) best = s;
    if (best && (best.inFlight.size === 0 || this.slots.length >= this.size)) return best;
    return this.spawn();
  }

  private spawn(): Slot {
    const worker = new Worker(this.workerUrl);
    worker.unref();
    const slot: Slot = { worker, inFlight: new Map() };
    worker.on('message', (reply: CodecReply) => {
      const p = this.settle(slot, reply.id);
      if (!p) return;
      if ('error' in reply) p.reject(new Error(`erasure codec: ${reply.error}`));
      else {
        this.recycle(reply.input);
        p.resolve(reply.output);
      }
    });
    const die = (e: Error) => {
      const i = this.slots.indexOf(slot);
      if (i < 0) return;
      this.slots.splice(i, 1);
      worker.removeAllListeners();
      worker.on('error', () => undefined);
      void worker.terminate();
      this.failAll(slot, e);
    };
    worker.on('error', (e) => die(e instanceof Error ? e : new Error(String(e))));
    worker.on('exit', (code) => die(new Error(`erasure codec: worker exited (code ${code})`)));
    this.slots.push(slot);
    return slot;
  }

  private settle(slot: Slot, id: number): Pending | undefined {
    const p = slot.inFlight.get(id);
    if (!p) return undefined;
    slot.inFlight.delete(id);
    if (slot.inFlight.size === 0) slot.worker.unref();
    return p;
  }

  private failAll(slot: Slot, e: Error): void {
    const pending = [...slot.inFlight.values()];
    slot.inFlight.clear();
    for (const p of pending) p.reject(new Error(`erasure codec: job lost: ${e.message}`));
  }

  /** For tests: the workers now running. */
  workers(): Worker[] {
    return this.slots.map((s) => s.worker);
  }
}

const FREE_PER_SIZE = 4;
const FREE_BYTES = 32 * 1024 * 1024;

let shared: CodecPool | undefined;
let sharedSize: number | undefined;

/** Sets the shared pool's size (JCS_CODEC_THREADS); takes effect for a pool not yet started. */
export function configureCodecPool(threads: number | undefined): void {
  sharedSize = threads;
}

/** The process-wide pool, started on first use. */
export function sharedCodecPool(): CodecPool {
  shared ??= new CodecPool(sharedSize ?? os.availableParallelism());
  return shared;
}
