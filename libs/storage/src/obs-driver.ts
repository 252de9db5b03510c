import type ObsClient from 'esdk-obs-nodejs';
import { Agent as HttpAgent, type ClientRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { Readable } from 'node:stream';
import { badArgument, operationFailed } from '#common';
import { remoteFailure } from './backend-error.js';
import { exactRangeBody, httpRange } from './byte-streams.js';
import { normalizeEtag, remoteWrite } from './remote-write.js';
import { MTIME_METADATA_KEY, formatMtimeMetadata, mtimeFromMetadata } from './mod-time.js';
import { CheckedStorageDriver } from './checked-driver.js';
import { guardedAgents, type ConnectGuard } from './guarded-agents.js';
import { StorageKeyNotFoundError, type ByteRange, type StorageEntry, type WriteOptions } from './driver.js';

export interface ObsDriverOptions {
  /** `http(s)://host[:port]`. An IP host makes the SDK use path-style addressing and V2 signatures. */
  endpoint: string;
  region: string;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** Bound on any period of silence on a connection (the SDK counts whole seconds, rounded up). */
  requestTimeoutMs: number;
  /** Judges every new connection, redirects the SDK follows included (the gateway's endpoint policy). */
  connectGuard?: ConnectGuard;
}

/** Bodies of known size up to this go in one streamed PUT; larger or unknown ones in parts. */
export const OBS_SINGLE_PUT_MAX = 16 * 1024 * 1024;
const PART_SIZE = 8 * 1024 * 1024;
const PARTS_IN_FLIGHT = 2;
const PART_ATTEMPTS = 3;
const MAX_LIST_KEYS = 1000;
const SDK_RETRIES = 2;

type Result = ObsClient.Result;

/**
 * The SDK is loaded on first use, not with the gateway: it brings log4js, whose graceful-fs patches
 * Node's global `fs.close` (a queue check on every close of every file the gateway touches: ~2% of a
 * small upload's CPU), and ~20 MiB of RSS that a gateway without OBS spaces never needs.
 */
let obsSdk: Promise<typeof ObsClient> | undefined;
const loadObsSdk = () => (obsSdk ??= import('esdk-obs-nodejs').then((m) => (m as { default: typeof ObsClient }).default ?? (m as unknown as typeof ObsClient)));
type Method =
  | 'getObjectMetadata'
  | 'getObject'
  | 'putObject'
  | 'exec:CopyObject'
  | 'deleteObject'
  | 'listObjects'
  | 'initiateMultipartUpload'
  | 'uploadPart'
  | 'completeMultipartUpload'
  | 'abortMultipartUpload';

interface ListedObject {
  Key?: string;
  Size?: string | number;
  LastModified?: string;
  ETag?: string;
}

const etagOf = (res: Result) => normalizeEtag(res.InterfaceResult?.ETag);

/**
 * Objects in one Huawei OBS bucket through `esdk-obs-nodejs`. The SDK's quirks, handled here once:
 * its client finishes initialising asynchronously (a call made in the same tick crashes), so the
 * client is built once in an async init; it turns a Buffer body into a string (corrupting binary
 * data), so bodies are always streams with an explicit length; it reports HTTP errors as results,
 * not errors, so every result's `CommonMsg.Status` is checked; it only bounds silence on a socket
 * (whole seconds), so calls without a body also get an overall deadline, after which the request is
 * aborted. A body of unknown size (the SDK needs a length) or over 16 MiB is cut into 8 MiB parts held
 * in memory (at most four at once), sent with a multipart upload that is aborted on any failure.
 */
export class ObsDriver extends CheckedStorageDriver {
  readonly kind = 'OBS' as const;
  readonly listsModTime = false;
  private readonly bucket: string;
  private readonly httpAgent: HttpAgent;
  private readonly httpsAgent: HttpsAgent;
  private readonly timeoutSeconds: number;
  /** Overall bound for a call without a body: every SDK attempt timing out, plus a margin. */
  private readonly deadlineMs: number;
  private clientReady?: Promise<ObsClient>;

  constructor(private readonly opts: ObsDriverOptions) {
    super();
    if (!opts.bucket) throw badArgument('OBS storage needs a bucket');
    let url: URL;
    try {
      url = new URL(opts.endpoint);
    } catch {
      throw badArgument(`OBS endpoint ${JSON.stringify(opts.endpoint)} is not a URL`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      throw badArgument(`OBS endpoint ${JSON.stringify(opts.endpoint)} must be http(s)://host[:port]`);
    if (!Number.isFinite(opts.requestTimeoutMs) || opts.requestTimeoutMs <= 0)
      throw badArgument('OBS storage needs a positive requestTimeoutMs');
    this.bucket = opts.bucket;
    const agents = guardedAgents(opts.connectGuard, { keepAlive: true, maxSockets: 64, timeout: 4000 });
    this.httpAgent = agents.http;
    this.httpsAgent = agents.https;
    this.timeoutSeconds = Math.max(1, Math.ceil(opts.requestTimeoutMs / 1000));
    this.deadlineMs = (SDK_RETRIES + 1) * this.timeoutSeconds * 1000 + 1000;
  }

  protected async headObject(key: string): Promise<{ size: number; modTime: Date } | null> {
    const res = await this.call('head', key, 'getObjectMetadata', { Bucket: this.bucket, Key: key });
    if (res.CommonMsg.Status === 404) return null;
    this.check('head', key, res);
    const r = res.InterfaceResult ?? {};
    return {
      size: Number(r.ContentLength ?? 0),
      modTime: mtimeFromMetadata(r.Metadata as Record<string, unknown> | undefined) ?? parseDate(r.LastModified),
    };
  }

  protected async readObject(key: string, range: ByteRange | undefined): Promise<Readable> {
    let response: IncomingMessage | undefined;
    const res = await this.call('read', key, 'getObject', {
      Bucket: this.bucket,
      Key: key,
      Range: httpRange(range),
      SaveAsStream: true,
      ResponseHook: (r: IncomingMessage) => (response = r),
    });
    if (res.CommonMsg.Status === 404 && res.CommonMsg.Code !== 'NoSuchBucket') throw new StorageKeyNotFoundError(key);
    if (res.CommonMsg.Status === 416)
      throw badArgument(`range ${httpRange(range)} is not satisfiable for ${key}: ${res.CommonMsg.Message}`);
    this.check('read', key, res);
    const body = res.InterfaceResult?.Content as Readable | undefined;
    if (!body || !response) throw operationFailed(`OBS read ${this.bucket}/${key}: the SDK returned no body`, 502);
    // The SDK's own socket timeout stops watching once it has answered; keep a stalled download bounded.
    const res0 = response;
    res0.setTimeout(this.timeoutSeconds * 1000, () =>
      res0.destroy(Object.assign(new Error(`OBS read ${this.bucket}/${key}: no data for ${this.timeoutSeconds} s`), { code: 'ETIMEDOUT' })),
    );
    const contentLength = response.headers['content-length'];
    return exactRangeBody(
      body,
      range,
      {
        status: response.statusCode,
        contentRange: response.headers['content-range'],
        contentLength: contentLength === undefined ? undefined : Number(contentLength),
      },
      `OBS read ${this.bucket}/${key}`,
    );
  }

  protected async writeObject(
    key: string,
    body: Readable,
    opts: WriteOptions,
  ): Promise<{ size: number; etag?: string }> {
    return remoteWrite(
      body,
      opts,
      `OBS write ${this.bucket}/${key}`,
      async (counter, abort) => {
        const metadata = opts.modTime ? { [MTIME_METADATA_KEY]: formatMtimeMetadata(opts.modTime) } : undefined;
        if (opts.size !== undefined && opts.size <= OBS_SINGLE_PUT_MAX) {
          const res = await this.call(
            'write',
            key,
            'putObject',
            { Bucket: this.bucket, Key: key, Body: counter, ContentLength: opts.size, Metadata: metadata },
            { signal: abort.signal, deadline: false },
          );
          this.check('write', key, res);
          return etagOf(res);
        } else {
          return this.writeInParts(key, counter, abort.signal, metadata);
        }
      },
      (err) => remoteFailure(`OBS write ${this.bucket}/${key}`, err),
    );
  }

  /** A body that fits in one part is one PUT; otherwise a multipart upload, aborted on any failure. */
  private async writeInParts(key: string, source: Readable, signal: AbortSignal, metadata?: Record<string, string>): Promise<string | undefined> {
    const parts = partsOf(source, PART_SIZE)[Symbol.asyncIterator]();
    const first = await parts.next();
    const second = first.done ? first : await parts.next();
    if (second.done) {
      const data = first.done ? Buffer.alloc(0) : first.value;
      const res = await this.call(
        'write',
        key,
        'putObject',
        { Bucket: this.bucket, Key: key, Body: bufferStream(data), ContentLength: data.length, Metadata: metadata },
        { signal, deadline: false },
      );
      this.check('write', key, res);
      return etagOf(res);
    }
    const init = await this.call('write', key, 'initiateMultipartUpload', { Bucket: this.bucket, Key: key, Metadata: metadata }, { signal });
    this.check('start multipart upload of', key, init);
    const uploadId = String(init.InterfaceResult?.UploadId ?? '');
    if (!uploadId) throw operationFailed(`OBS multipart upload of ${this.bucket}/${key}: no UploadId in the answer`, 502);
    try {
      const etags: string[] = [];
      const inFlight = new Set<Promise<void>>();
      let failure: unknown;
      const send = (partNumber: number, data: Buffer) => {
        const p = this.uploadPart(key, uploadId, partNumber, data, signal).then(
          (etag) => void (etags[partNumber - 1] = etag),
          (err) => void (failure ??= err),
        );
        inFlight.add(p);
        void p.finally(() => inFlight.delete(p));
      };
      let partNumber = 0;
      send(++partNumber, first.value as Buffer);
      send(++partNumber, second.value as Buffer);
      for (;;) {
        while (inFlight.size >= PARTS_IN_FLIGHT && failure === undefined) await Promise.race(inFlight);
        if (failure !== undefined) break;
        const next = await parts.next();
        if (next.done) break;
        send(++partNumber, next.value);
      }
      await Promise.all(inFlight);
      if (failure !== undefined) throw failure;
      const done = await this.call(
        'write',
        key,
        'completeMultipartUpload',
        {
          Bucket: this.bucket,
          Key: key,
          UploadId: uploadId,
          Parts: etags.map((ETag, i) => ({ PartNumber: i + 1, ETag })),
        },
        // Assembling a large object may take the backend a while; the socket timeout still applies.
        { signal, deadline: false },
      );
      this.check('complete multipart upload of', key, done);
      return etagOf(done);
    } catch (err) {
      await parts.return?.(undefined).catch(() => undefined);
      // Best effort: a leftover upload is invisible to readers and expires by bucket lifecycle rules.
      await this.call('abort', key, 'abortMultipartUpload', { Bucket: this.bucket, Key: key, UploadId: uploadId }).catch(
        () => undefined,
      );
      throw err;
    }
  }

  /** Parts are held in memory, so unlike the SDK (which never retries a streamed body) we can retry them. */
  private async uploadPart(key: string, uploadId: string, partNumber: number, data: Buffer, signal: AbortSignal): Promise<string> {
    for (let attempt = 1; ; attempt++) {
      let res: Result;
      try {
        res = await this.call(
          'write',
          key,
          'uploadPart',
          { Bucket: this.bucket, Key: key, UploadId: uploadId, PartNumber: partNumber, Body: bufferStream(data), PartSize: data.length },
          { signal, deadline: false },
        );
      } catch (err) {
        if (attempt >= PART_ATTEMPTS || signal.aborted) throw err;
        continue;
      }
      if (res.CommonMsg.Status >= 500 && attempt < PART_ATTEMPTS) continue;
      this.check(`upload part ${partNumber} of`, key, res);
      const etag = res.InterfaceResult?.ETag;
      if (!etag) throw operationFailed(`OBS upload part ${partNumber} of ${this.bucket}/${key}: no ETag in the answer`, 502);
      return String(etag);
    }
  }

  protected async moveObject(fromKey: string, toKey: string): Promise<void> {
    // The copy source goes in its documented form, `bucket/key` with each key segment
    // percent-encoded (as the S3 driver sends it). The SDK's copyObject() would percent-encode the
    // slashes too, which OBS accepts but S3-compatible servers decoding with decodeURI (s3rver) read
    // as a bucket name; so the call goes through exec(), which sends the header as given.
    const res = await this.call('copy', fromKey, 'exec:CopyObject', {
      Bucket: this.bucket,
      Key: toKey,
      CopySource: `${encodeURIComponent(this.bucket)}/${fromKey.split('/').map(encodeURIComponent).join('/')}`,
    });
    if (res.CommonMsg.Status === 404 && res.CommonMsg.Code !== 'NoSuchBucket') throw new StorageKeyNotFoundError(fromKey);
    this.check('copy', `${fromKey} -> ${toKey}`, res);
    await this.deleteObject(fromKey);
  }

  protected async makeFolderObject(key: string): Promise<void> {
    await this.writeObject(`${key}/`, Readable.from([]), { size: 0 });
  }

  protected async *listObjects(prefix: string, pageSize: number, folders: boolean): AsyncGenerator<StorageEntry[]> {
    let marker: string | undefined;
    for (;;) {
      const res = await this.call('list', prefix, 'listObjects', {
        Bucket: this.bucket,
        Prefix: prefix || undefined,
        Marker: marker,
        MaxKeys: Math.min(pageSize, MAX_LIST_KEYS),
      });
      this.check('list', prefix, res);
      const r = res.InterfaceResult ?? {};
      const contents = (r.Contents as ListedObject[] | undefined) ?? [];
      const page = contents.map((o) => ({
        key: String(o.Key ?? ''),
        size: Number(o.Size ?? 0),
        modTime: parseDate(o.LastModified),
        ...(normalizeEtag(o.ETag) ? { etag: normalizeEtag(o.ETag) } : {}),
      }));
      const shown = folders ? page : page.filter((e) => !e.key.endsWith('/')); // folder markers are not objects
      if (shown.length > 0) yield shown;
      const truncated = String(r.IsTruncated) === 'true';
      if (!truncated || page.length === 0) return;
      // NextMarker is only sent with a delimiter; without one the last key is the marker.
      marker = r.NextMarker ? String(r.NextMarker) : page[page.length - 1].key;
    }
  }

  protected async deleteObject(key: string): Promise<void> {
    const res = await this.call('delete', key, 'deleteObject', { Bucket: this.bucket, Key: key });
    if (res.CommonMsg.Status === 404 && res.CommonMsg.Code !== 'NoSuchBucket') return;
    this.check('delete', key, res);
  }

  protected override async closeBackend(): Promise<void> {
    const ready = this.clientReady;
    this.clientReady = undefined;
    if (ready) (await ready.catch(() => undefined))?.close();
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }

  private client(): Promise<ObsClient> {
    this.clientReady ??= (async () => {
      const Client = await loadObsSdk();
      const client = new Client({
        access_key_id: this.opts.accessKeyId,
        secret_access_key: this.opts.secretAccessKey,
        server: this.opts.endpoint,
        region: this.opts.region || undefined,
        timeout: this.timeoutSeconds,
        max_retry_count: SDK_RETRIES,
        http_agent: this.httpAgent,
        https_agent: this.httpsAgent,
      });
      // The constructor finishes initialising in a promise; a call in the same tick crashes.
      await new Promise((resolve) => setImmediate(resolve));
      return client;
    })();
    return this.clientReady;
  }

  /**
   * One SDK call, bounded: aborted with the caller's signal, and - for calls without a streamed
   * body - after an overall deadline. Transport failures reject (mapped); HTTP errors resolve, for
   * `check()`.
   */
  private async call(
    op: string,
    key: string,
    method: Method,
    params: Record<string, unknown>,
    opts: { signal?: AbortSignal; deadline?: boolean } = {},
  ): Promise<Result> {
    const client = await this.client();
    const where = `OBS ${op} ${this.bucket}/${key}`;
    opts.signal?.throwIfAborted();
    return new Promise<Result>((resolve, reject) => {
      const requests: ClientRequest[] = [];
      let settled = false;
      const settle = (fn: () => void, abortRequests: boolean) => {
        if (settled) return;
        settled = true;
        if (timer) clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
        if (abortRequests) for (const r of requests) r.destroy();
        fn();
      };
      const onAbort = () => settle(() => reject(opts.signal?.reason), true);
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      const timer =
        opts.deadline === false
          ? undefined
          : setTimeout(
              () =>
                settle(
                  () => reject(operationFailed(`${where} timed out: no answer within ${this.deadlineMs} ms`, 504)),
                  true,
                ),
              this.deadlineMs,
            );
      const cleaned: Record<string, unknown> = { RequestHook: (r: ClientRequest) => requests.push(r) };
      for (const [k, v] of Object.entries(params)) if (v !== undefined) cleaned[k] = v;
      try {
        const callback: ObsClient.Callback = (err, result) => {
          if (err) settle(() => reject(remoteFailure(where, err)), true);
          else settle(() => resolve(result), false);
        };
        if (method.startsWith('exec:')) client.exec(method.slice('exec:'.length), cleaned, callback);
        else client[method as Exclude<Method, `exec:${string}`>](cleaned, callback);
      } catch (err) {
        settle(() => reject(remoteFailure(where, err)), true);
      }
    });
  }

  private check(op: string, key: string, res: Result): void {
    const { Status, Code, Message } = res.CommonMsg;
    if (Status < 300) return;
    const reason = [Code, Message].filter(Boolean).join(': ') || 'no reason given';
    throw operationFailed(`OBS ${op} ${this.bucket}/${key} failed: HTTP ${Status} ${reason}`, 502);
  }
}

function parseDate(value: unknown): Date {
  const d = value === undefined ? new Date(0) : new Date(String(value));
  return Number.isNaN(d.getTime()) ? new Date(0) : d;
}

function bufferStream(data: Buffer): Readable {
  return Readable.from(data.length > 0 ? [data] : [], { objectMode: false });
}

/** Cuts a byte stream into parts of exactly `partSize` bytes (the last may be shorter); pulls only as needed. */
async function* partsOf(source: Readable, partSize: number): AsyncGenerator<Buffer> {
  let chunks: Buffer[] = [];
  let length = 0;
  for await (const raw of source) {
    let chunk = raw as Buffer;
    while (length + chunk.length >= partSize) {
      const take = partSize - length;
      chunks.push(chunk.subarray(0, take));
      yield Buffer.concat(chunks, partSize);
      chunks = [];
      length = 0;
      chunk = chunk.subarray(take);
    }
    if (chunk.length > 0) {
      chunks.push(chunk);
      length += chunk.length;
    }
  }
  if (length > 0) yield Buffer.concat(chunks, length);
}
