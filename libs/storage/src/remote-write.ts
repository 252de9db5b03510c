import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { isAbortError, remoteFailure } from './backend-error.js';
import { ByteCounter, watchBody } from './byte-streams.js';
import type { WriteOptions } from './driver.js';

/**
 * The frame every remote (S3, OBS) write runs in: the body flows through a ByteCounter (which also
 * enforces a declared size), the request is aborted when the body fails or the caller aborts (SDKs
 * pipe a stream body without watching it for errors, so a failing body would otherwise leave the
 * request waiting until the socket timeout), and the body's own failure is rethrown unchanged while
 * the backend's is mapped by `mapFailure`.
 */
export async function remoteWrite(
  body: Readable,
  opts: WriteOptions,
  what: string,
  send: (counted: ByteCounter, abort: AbortController) => Promise<string | undefined>,
  mapFailure: (err: unknown) => Error,
): Promise<{ size: number; etag?: string }> {
  const counter = new ByteCounter(opts.size);
  const watch = watchBody(body, [counter]);
  const abort = new AbortController();
  const onCallerAbort = () => abort.abort(opts.signal?.reason);
  opts.signal?.addEventListener('abort', onCallerAbort, { once: true });
  pipeline(body, counter).catch((err) => abort.abort(err));
  try {
    const etag = normalizeEtag(await send(counter, abort));
    return etag ? { size: counter.bytes, etag } : { size: counter.bytes };
  } catch (err) {
    const bodyError = watch.bodyError;
    watch.dispose(); // destroying the pipeline below re-emits errors on the body that are not the body's
    counter.destroy();
    if (bodyError !== undefined) throw bodyError;
    if (opts.signal?.aborted) throw opts.signal.reason ?? err;
    if (abort.signal.aborted && abort.signal.reason instanceof Error && !isAbortError(abort.signal.reason))
      throw remoteFailure(what, abort.signal.reason); // e.g. the size check
    throw mapFailure(err);
  } finally {
    watch.dispose();
    opts.signal?.removeEventListener('abort', onCallerAbort);
  }
}

/** ETags come quoted (`"abc"`) from some answers and bare from others: compared without quotes. */
export function normalizeEtag(etag: unknown): string | undefined {
  if (typeof etag !== 'string' || etag === '') return undefined;
  return etag.replace(/^"|"$/g, '');
}
