import type { S3Client, S3ClientConfig } from '@aws-sdk/client-s3';
import { Readable } from 'node:stream';
import { badArgument } from '#common';
import { backendReason, remoteFailure } from './backend-error.js';
import { exactRangeBody, httpRange } from './byte-streams.js';
import { normalizeEtag, remoteWrite } from './remote-write.js';
import { MTIME_METADATA_KEY, formatMtimeMetadata, mtimeFromMetadata } from './mod-time.js';
import { CheckedStorageDriver } from './checked-driver.js';
import { guardedAgents, type ConnectGuard } from './guarded-agents.js';
import { StorageKeyNotFoundError, type ByteRange, type StorageEntry, type WriteOptions } from './driver.js';

export interface S3DriverOptions {
  /** Custom endpoint (MinIO, s3rver, another vendor); absent for AWS itself. */
  endpoint?: string;
  region: string;
  bucket: string;
  forcePathStyle?: boolean;
  accessKeyId: string;
  secretAccessKey: string;
  /** Bound on connecting and on any period of silence on a connection; a dead backend fails within it. */
  requestTimeoutMs: number;
  /** Judges every new connection of the client (the gateway's endpoint policy refuses addresses here). */
  connectGuard?: ConnectGuard;
}

/** Bodies of known size up to this go in one streamed PUT; larger or unknown ones in a multipart upload. */
export const S3_SINGLE_PUT_MAX = 16 * 1024 * 1024;
const PART_SIZE = 8 * 1024 * 1024;
const QUEUE_SIZE = 2;
const MAX_LIST_KEYS = 1000;

const SILENT_LOGGER = { trace() {}, debug() {}, info() {}, warn() {}, error() {} };

type S3Error = Error & { $metadata?: { httpStatusCode?: number } };

/**
 * Objects in one S3 bucket through `@aws-sdk/client-s3`. Checksums are computed and validated only
 * when an operation requires it: with the SDK's newer default, streamed bodies are sent with
 * aws-chunked framing that S3-compatible servers (s3rver, older MinIO and vendors) store verbatim,
 * corrupting the object. Large or unknown-size bodies go through `@aws-sdk/lib-storage` (bounded
 * memory: queueSize x partSize), which aborts the multipart upload when anything fails, so a failed
 * write never becomes visible. Moves are a server-side copy (CopyObject: objects up to 5 GiB on AWS)
 * followed by a delete.
 */
type S3Sdk = typeof import('@aws-sdk/client-s3');
type S3Api = { s3: S3Sdk; Upload: typeof import('@aws-sdk/lib-storage').Upload; client: S3Client };

/**
 * The AWS SDK is loaded on first use of an S3 space, not with the gateway: ~20 MiB of RSS (and its
 * start-up time) that a gateway serving only Local spaces never needs.
 */
let s3Sdk: Promise<Omit<S3Api, 'client'>> | undefined;
const loadS3Sdk = () =>
  (s3Sdk ??= Promise.all([import('@aws-sdk/client-s3'), import('@aws-sdk/lib-storage')]).then(([s3, storage]) => ({ s3, Upload: storage.Upload })));

export class S3Driver extends CheckedStorageDriver {
  readonly kind = 'S3' as const;
  readonly listsModTime = false;
  private readonly config: S3ClientConfig;
  private clientReady?: Promise<S3Api>;
  private readonly bucket: string;

  constructor(opts: S3DriverOptions) {
    super();
    if (!opts.bucket) throw badArgument('S3 storage needs a bucket');
    if (!Number.isFinite(opts.requestTimeoutMs) || opts.requestTimeoutMs <= 0)
      throw badArgument('S3 storage needs a positive requestTimeoutMs');
    this.bucket = opts.bucket;
    this.config = {
      region: opts.region || 'us-east-1',
      endpoint: opts.endpoint || undefined,
      forcePathStyle: opts.forcePathStyle ?? false,
      credentials: { accessKeyId: opts.accessKeyId, secretAccessKey: opts.secretAccessKey },
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      maxAttempts: 3,
      // Silent: the driver reports every failure itself (mapped, with the backend's reason). Without
      // a logger the SDK prints a console warning whenever a streamed body fails (it never retries one).
      logger: SILENT_LOGGER,
      // connectionTimeout bounds the TCP connect; socketTimeout bounds silence on an open connection
      // (not the whole request, which may legitimately stream gigabytes).
      requestHandler: {
        connectionTimeout: opts.requestTimeoutMs,
        socketTimeout: opts.requestTimeoutMs,
        // Agent instances rather than agent options: the SDK builds a fresh agent of its own (without the
        // guard) for `Expect: 100-continue` requests unless the agents are the caller's. It still
        // destroys them with the client.
        ...(opts.connectGuard ? agentsFor(opts.connectGuard) : {}),
      },
    };
  }

  /** The SDK client, made on first use (see loadS3Sdk). */
  private api(): Promise<S3Api> {
    this.clientReady ??= loadS3Sdk().then((sdk) => ({ ...sdk, client: new sdk.s3.S3Client(this.config) }));
    return this.clientReady;
  }

  protected async headObject(key: string): Promise<{ size: number; modTime: Date } | null> {
    const { client, s3 } = await this.api();
    try {
      const res = await client.send(new s3.HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return { size: res.ContentLength ?? 0, modTime: mtimeFromMetadata(res.Metadata) ?? res.LastModified ?? new Date(0) };
    } catch (err) {
      // A HEAD answer has no body, so a missing bucket looks like a missing key too; test() tells them apart.
      if (statusOf(err) === 404 || (err as Error).name === 'NotFound' || (err as Error).name === 'NoSuchKey') return null;
      throw this.failure('head', key, err);
    }
  }

  protected async readObject(key: string, range: ByteRange | undefined): Promise<Readable> {
    const { client, s3 } = await this.api();
    let res;
    try {
      res = await client.send(new s3.GetObjectCommand({ Bucket: this.bucket, Key: key, Range: httpRange(range) }));
    } catch (err) {
      if ((err as Error).name === 'NoSuchKey') throw new StorageKeyNotFoundError(key);
      if ((err as Error).name === 'InvalidRange' || statusOf(err) === 416)
        throw badArgument(`range ${httpRange(range)} is not satisfiable for ${key}: ${backendReason(err)}`);
      throw this.failure('read', key, err);
    }
    const body = (res.Body as Readable | undefined) ?? Readable.from([]);
    return exactRangeBody(
      body,
      range,
      { status: res.$metadata.httpStatusCode, contentRange: res.ContentRange, contentLength: res.ContentLength },
      `S3 read ${this.bucket}/${key}`,
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
      `S3 write ${this.bucket}/${key}`,
      async (counter, abort) => {
        const { client, s3, Upload } = await this.api();
        const Metadata = opts.modTime ? { [MTIME_METADATA_KEY]: formatMtimeMetadata(opts.modTime) } : undefined;
        if (opts.size !== undefined && opts.size <= S3_SINGLE_PUT_MAX) {
          const res = await client.send(
            new s3.PutObjectCommand({ Bucket: this.bucket, Key: key, Body: counter, ContentLength: opts.size, Metadata }),
            { abortSignal: abort.signal },
          );
          return res.ETag;
        } else {
          const upload = new Upload({
            client,
            params: { Bucket: this.bucket, Key: key, Body: counter, ContentLength: opts.size, Metadata },
            partSize: PART_SIZE,
            queueSize: QUEUE_SIZE,
            leavePartsOnError: false,
            abortController: abort,
          });
          const done = await upload.done();
          return (done as { ETag?: string }).ETag;
        }
      },
      (err) => this.failure('write', key, err),
    );
  }

  protected async moveObject(fromKey: string, toKey: string): Promise<void> {
    const { client, s3 } = await this.api();
    try {
      await client.send(
        new s3.CopyObjectCommand({ Bucket: this.bucket, Key: toKey, CopySource: `${this.bucket}/${encodeKey(fromKey)}` }),
      );
    } catch (err) {
      if ((err as Error).name === 'NoSuchKey') throw new StorageKeyNotFoundError(fromKey);
      throw this.failure('copy', `${fromKey} -> ${toKey}`, err);
    }
    await this.deleteObject(fromKey);
  }

  protected async makeFolderObject(key: string): Promise<void> {
    await this.writeObject(`${key}/`, Readable.from([]), { size: 0 });
  }

  protected async *listObjects(prefix: string, pageSize: number, folders: boolean): AsyncGenerator<StorageEntry[]> {
    const { client, s3 } = await this.api();
    let token: string | undefined;
    do {
      let res;
      try {
        res = await client.send(
          new s3.ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: prefix || undefined,
            MaxKeys: Math.min(pageSize, MAX_LIST_KEYS),
            ContinuationToken: token,
          }),
        );
      } catch (err) {
        throw this.failure('list', prefix, err);
      }
      const page = (res.Contents ?? []).map((o) => ({
        key: o.Key ?? '',
        size: o.Size ?? 0,
        modTime: o.LastModified ?? new Date(0),
        ...(normalizeEtag(o.ETag) ? { etag: normalizeEtag(o.ETag) } : {}),
      }));
      const shown = folders ? page : page.filter((e) => !e.key.endsWith('/')); // folder markers are not objects
      if (shown.length > 0) yield shown;
      token = res.IsTruncated ? res.NextContinuationToken : undefined;
    } while (token);
  }

  protected async deleteObject(key: string): Promise<void> {
    const { client, s3 } = await this.api();
    try {
      await client.send(new s3.DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
    } catch (err) {
      if ((err as Error).name === 'NoSuchKey' || (err as Error).name === 'NotFound') return;
      throw this.failure('delete', key, err);
    }
  }

  protected override async closeBackend(): Promise<void> {
    const ready = this.clientReady;
    if (ready) (await ready.catch(() => undefined))?.client.destroy();
    else {
      // Never used: the guarded agents were made for a client that does not exist.
      const handler = this.config.requestHandler as { httpAgent?: { destroy(): void }; httpsAgent?: { destroy(): void } } | undefined;
      handler?.httpAgent?.destroy();
      handler?.httpsAgent?.destroy();
    }
  }

  private failure(op: string, key: string, err: unknown): Error {
    return remoteFailure(`S3 ${op} ${this.bucket}/${key}`, err);
  }
}

function agentsFor(guard: ConnectGuard) {
  const { http, https } = guardedAgents(guard, { keepAlive: true, maxSockets: 50 });
  return { httpAgent: http, httpsAgent: https };
}

function statusOf(err: unknown): number | undefined {
  return (err as S3Error)?.$metadata?.httpStatusCode;
}

/** CopySource is a URL path: each segment percent-encoded, '/' kept. */
function encodeKey(key: string): string {
  return key.split('/').map(encodeURIComponent).join('/');
}
