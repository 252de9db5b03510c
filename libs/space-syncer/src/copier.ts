import { createHash } from 'node:crypto';
import { PassThrough, type Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { StorageDriver } from '#storage';
import type { Throttle } from './limits.js';

export interface CopyTarget {
  driver: StorageDriver;
  key: string;
}

export interface CopyOptions {
  signal: AbortSignal;
  throttle?: Throttle;
  /** Called with each chunk's size as it is read from the source (progress). */
  onBytes?: (n: number) => void;
}

export interface CopyOutcome {
  /** SHA-256 (hex) of the bytes read from the source; set when the whole source was read. */
  sha256?: string;
  /** Index i: undefined when target i holds the complete copy, else why not. */
  errors: (Error | undefined)[];
  /** Index i: the tag of the version target i now holds (S3/OBS ETag), when it has one. */
  etags: (string | undefined)[];
}

/**
 * Bytes held per destination between the source and a slow writer (the source waits beyond it): a
 * few of the drivers' 1 MiB chunks, so the next reads overlap the current write instead of waiting
 * for it (memory per transfer: this × destinations).
 */
const FAN_OUT_BUFFER = 4 * 1024 * 1024;

/**
 * Reads the source once and writes it to every target at the same time. Each chunk goes to every
 * target that is still writing; the next chunk is read only once the slowest target has taken the last
 * one (backpressure from the slowest). A target that fails drops out and the others go on. Each write is
 * the driver's atomic write with the declared size and the kept modification time, so a target holds
 * the complete file under its name or nothing new (a cut write leaves no partial file).
 */
export async function copyToAll(
  source: StorageDriver,
  sourceKey: string,
  file: { size: number; modTime: Date },
  targets: CopyTarget[],
  opts: CopyOptions,
): Promise<CopyOutcome> {
  opts.signal.throwIfAborted();
  const body = await source.createReadStream(sourceKey);
  const outs = targets.map(() => new PassThrough({ highWaterMark: FAN_OUT_BUFFER }));
  const errors: (Error | undefined)[] = targets.map(() => undefined);
  const etags: (string | undefined)[] = targets.map(() => undefined);
  const failed = targets.map(() => false);
  const writes = targets.map((t, i) =>
    t.driver.write(t.key, outs[i], { size: file.size, modTime: file.modTime, signal: opts.signal }).then(
      (res) => void (etags[i] = res.etag),
      (err: unknown) => {
        failed[i] = true;
        errors[i] = err instanceof Error ? err : new Error(String(err));
        outs[i].destroy();
      },
    ),
  );
  const hash = createHash('sha256');
  let sha256: string | undefined;
  try {
    for await (const chunk of body as Readable) {
      opts.signal.throwIfAborted();
      const buf = chunk as Buffer;
      hash.update(buf);
      opts.onBytes?.(buf.length);
      if (opts.throttle) await opts.throttle.take(buf.length, opts.signal);
      const waits: Promise<void>[] = [];
      for (let i = 0; i < outs.length; i++) {
        if (failed[i] || outs[i].destroyed) continue;
        if (!outs[i].write(buf)) waits.push(drained(outs[i]));
      }
      if (failed.every(Boolean)) break;
      await Promise.all(waits);
    }
    if (!failed.every(Boolean)) sha256 = hash.digest('hex');
    for (let i = 0; i < outs.length; i++) if (!failed[i]) outs[i].end();
  } catch (err) {
    // The source failed or the run was stopped: every write still going is cut (and cleans up after itself).
    for (const out of outs) out.destroy(err as Error);
  } finally {
    body.destroy();
  }
  await Promise.all(writes);
  return { sha256, errors, etags };
}

/** Resolves when `out` wants more, or when it will never want any (closed or failed). */
function drained(out: PassThrough): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      out.off('drain', done);
      out.off('close', done);
      resolve();
    };
    out.on('drain', done);
    out.on('close', done);
  });
}

export interface RetryPolicy {
  attempts: number;
  baseDelayMs: number;
}

/**
 * `copyToAll` with retries: the targets that failed are tried again (each attempt reads the source
 * once more, for them only) after an exponential backoff with jitter; a stopped run is not retried.
 */
export async function copyWithRetries(
  source: StorageDriver,
  sourceKey: string,
  file: { size: number; modTime: Date },
  targets: CopyTarget[],
  opts: CopyOptions & { retry: RetryPolicy },
): Promise<CopyOutcome> {
  let pending = targets.map((_, i) => i);
  const errors: (Error | undefined)[] = targets.map(() => undefined);
  const etags: (string | undefined)[] = targets.map(() => undefined);
  let sha256: string | undefined;
  for (let attempt = 1; ; attempt++) {
    let outcome: CopyOutcome;
    try {
      outcome = await copyToAll(source, sourceKey, file, pending.map((i) => targets[i]), opts);
    } catch (err) {
      // Opening the source failed: every pending target fails alike.
      outcome = { errors: pending.map(() => err as Error), etags: [] };
    }
    opts.signal.throwIfAborted();
    sha256 ??= outcome.sha256;
    const still: number[] = [];
    pending.forEach((ti, k) => {
      errors[ti] = outcome.errors[k];
      etags[ti] = outcome.etags[k];
      if (outcome.errors[k]) still.push(ti);
    });
    pending = still;
    if (pending.length === 0 || attempt >= opts.retry.attempts) return { sha256, errors, etags };
    const delay = opts.retry.baseDelayMs * 2 ** (attempt - 1) * (0.5 + Math.random() / 2);
    await sleep(delay, undefined, { signal: opts.signal });
  }
}
