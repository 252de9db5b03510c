import { SignatureV4 } from '@aws-sdk/signature-v4';
import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import http from 'node:http';
import type { Readable } from 'node:stream';

/**
 * The one HTTP client every figure uses, for the gateway and for the baseline alike, so client-side
 * costs (signing, socket handling, counting bytes) are the same on both sides of a ratio.
 *
 * Plain `http.request` over a keep-alive agent: `fetch` (undici's WHATWG layer) adds per-request
 * overhead and buffering that would blur millisecond latencies. Requests are SigV4-signed by the AWS
 * SDK signer (service `jcs`, region `any`, as the JCS-pub clients do); the baseline ignores the
 * signature but still receives the same headers. Streamed bodies are signed UNSIGNED-PAYLOAD.
 */
export interface Credentials {
  accessKey: string;
  secretKey: string;
}

export interface BenchRequest {
  method?: string;
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  headers?: Record<string, string>;
  body?: string | Buffer | Readable;
  /** `discard` counts the body's bytes and drops them (big downloads); `buffer` keeps them. */
  sink?: 'discard' | 'buffer';
  timeoutMs?: number;
}

export interface BenchResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** Body bytes received. */
  bytes: number;
  body?: Buffer;
  /** From before signing to the last body byte, in milliseconds (performance.now()). */
  ms: number;
  /** From before signing until the request body was fully handed to the socket. */
  sentMs: number;
}

/** Node's own SHA-256 behind the SDK's Checksum interface: the pure-JS default costs client CPU. */
class NodeSha256 {
  private h: Hash | Hmac;
  constructor(private readonly secret?: Uint8Array | string) {
    this.h = this.fresh();
  }
  private fresh(): Hash | Hmac {
    return this.secret === undefined ? createHash('sha256') : createHmac('sha256', this.secret);
  }
  update(data: Uint8Array | string): void {
    this.h.update(data);
  }
  async digest(): Promise<Uint8Array> {
    return this.h.digest();
  }
  reset(): void {
    this.h = this.fresh();
  }
}

/** A signed request, ready to send (see BenchClient.prepare). */
export interface PreparedRequest {
  method: string;
  /** Path and query string. */
  path: string;
  headers: Record<string, string>;
  body?: string | Buffer | Readable;
  sink?: 'discard' | 'buffer';
  timeoutMs?: number;
}

export class BenchClient {
  readonly agent: http.Agent;
  private readonly signer: SignatureV4;
  private readonly url: URL;

  constructor(
    readonly baseUrl: string,
    creds: Credentials,
    opts: { maxSockets?: number } = {},
  ) {
    this.url = new URL(baseUrl);
    this.agent = new http.Agent({ keepAlive: true, maxSockets: opts.maxSockets ?? 4, scheduling: 'lifo' });
    this.signer = new SignatureV4({
      service: 'jcs',
      region: 'any',
      credentials: { accessKeyId: creds.accessKey, secretAccessKey: creds.secretKey },
      sha256: NodeSha256 as any,
    });
  }

  async request(spec: BenchRequest): Promise<BenchResponse> {
    const t0 = performance.now();
    return this.send(await this.prepare(spec), t0);
  }

  /**
   * Signs a request without sending it, so a timed loop pays only for the exchange (signatures stay
   * valid for 15 minutes). Buffer bodies with `unsignedPayload` are sent with a Content-Length and
   * signed UNSIGNED-PAYLOAD, as streamed uploads are.
   */
  async prepare(spec: BenchRequest & { unsignedPayload?: boolean }): Promise<PreparedRequest> {
    const method = spec.method ?? (spec.body !== undefined ? 'POST' : 'GET');
    const query: Record<string, string> = {};
    for (const [k, v] of Object.entries(spec.query ?? {})) if (v !== undefined) query[k] = String(v);
    const headers: Record<string, string> = { host: this.url.host, ...(spec.headers ?? {}) };
    const stream = spec.body !== undefined && typeof spec.body !== 'string' && !Buffer.isBuffer(spec.body);
    if (stream || spec.unsignedPayload) headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
    if (!stream && spec.body !== undefined) headers['content-length'] = String(Buffer.byteLength(spec.body as string | Buffer));
    const signed = await this.signer.sign({
      method,
      protocol: 'http:',
      hostname: this.url.hostname,
      port: Number(this.url.port),
      path: spec.path,
      query,
      headers,
      body: stream || spec.unsignedPayload ? undefined : spec.body,
    });
    const qs = Object.entries(query)
      .map(([k, v]) => `${rfc3986(k)}=${rfc3986(v)}`)
      .join('&');
    return {
      method,
      path: spec.path + (qs ? '?' + qs : ''),
      headers: signed.headers as Record<string, string>,
      body: spec.body,
      sink: spec.sink,
      timeoutMs: spec.timeoutMs,
    };
  }

  /** Sends a prepared request; `ms` counts from `t0` (default: now, i.e. signing excluded). */
  send(p: PreparedRequest, t0 = performance.now()): Promise<BenchResponse> {
    const stream = p.body !== undefined && typeof p.body !== 'string' && !Buffer.isBuffer(p.body);
    const timeoutMs = p.timeoutMs ?? 300_000;
    let sentMs = NaN;
    return new Promise<BenchResponse>((resolve, reject) => {
      const req = http.request(
        {
          agent: this.agent,
          host: this.url.hostname,
          port: Number(this.url.port),
          method: p.method,
          path: p.path,
          headers: p.headers,
        },
        (res) => {
          let bytes = 0;
          const chunks: Buffer[] = [];
          const keep = p.sink !== 'discard';
          res.on('data', (c: Buffer) => {
            bytes += c.length;
            if (keep) chunks.push(c);
          });
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              bytes,
              body: keep ? Buffer.concat(chunks) : undefined,
              ms: performance.now() - t0,
              sentMs,
            }),
          );
          res.on('error', reject);
        },
      );
      req.setTimeout(timeoutMs, () => req.destroy(new Error(`${p.method} ${p.path}: no answer in ${timeoutMs} ms`)));
      req.on('error', reject);
      req.on('finish', () => (sentMs = performance.now() - t0));
      if (stream) {
        const body = p.body as Readable;
        body.on('error', (e) => req.destroy(e));
        body.pipe(req);
      } else {
        req.end(p.body);
      }
    });
  }

  /** A JSON call that must answer HTTP 200 with the gateway's `{code:'OK', data}` envelope. */
  async json<T = any>(spec: BenchRequest): Promise<T> {
    const res = await this.request({ ...spec, sink: 'buffer' });
    const text = res.body!.toString('utf8');
    let parsed: any;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new Error(`${spec.path}: HTTP ${res.status}, not JSON: ${text.slice(0, 300)}`);
    }
    if (res.status !== 200 || (parsed.code !== undefined && parsed.code !== 'OK'))
      throw new Error(`${spec.path}: HTTP ${res.status} ${text.slice(0, 300)}`);
    return (parsed.data ?? parsed) as T;
  }

  postJson<T = any>(path: string, payload: unknown): Promise<T> {
    return this.json<T>({ method: 'POST', path, body: JSON.stringify(payload), headers: { 'content-type': 'application/json' } });
  }

  close(): void {
    this.agent.destroy();
  }
}

/** RFC 3986 encoding, the one the signer uses for its canonical query string. */
const rfc3986 = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
