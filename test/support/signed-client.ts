import { SignatureV4 } from '@aws-sdk/signature-v4';
import { Sha256 } from '@aws-crypto/sha256-js';
import type { Readable } from 'node:stream';

/**
 * An HTTP client whose requests are signed by the AWS SDK's own SigV4 signer (never the gateway's
 * code), as the JCS-pub clients do: service `jcs`, region `any`.
 */
export interface Credentials {
  accessKey: string;
  secretKey: string;
}

export interface RequestSpec {
  method?: string;
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  headers?: Record<string, string>;
  body?: string | Buffer | Readable;
  /** Sign with x-amz-content-sha256: UNSIGNED-PAYLOAD (required for stream bodies). */
  unsignedPayload?: boolean;
  signingDate?: Date;
}

export interface JsonResponse<T = any> {
  status: number;
  headers: Headers;
  body: { code: string; message: string; data: T };
}

export class SignedClient {
  private readonly signer: SignatureV4;
  private readonly host: string;

  constructor(
    readonly baseUrl: string,
    readonly creds: Credentials,
    region = 'any',
  ) {
    this.host = new URL(baseUrl).host;
    this.signer = new SignatureV4({
      service: 'jcs',
      region,
      credentials: { accessKeyId: creds.accessKey, secretAccessKey: creds.secretKey },
      sha256: Sha256,
    });
  }

  async signedRequest(spec: RequestSpec): Promise<{ url: string; init: RequestInit }> {
    const method = spec.method ?? (spec.body !== undefined ? 'POST' : 'GET');
    const query = cleanQuery(spec.query);
    const headers: Record<string, string> = { host: this.host, ...(spec.headers ?? {}) };
    const streamBody = spec.body !== undefined && typeof spec.body !== 'string' && !Buffer.isBuffer(spec.body);
    if (spec.unsignedPayload || (streamBody && !headers['x-amz-content-sha256'])) headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
    const signed = await this.signer.sign(
      {
        method,
        protocol: 'http:',
        hostname: new URL(this.baseUrl).hostname,
        port: Number(new URL(this.baseUrl).port),
        path: spec.path,
        query,
        headers,
        body: streamBody ? undefined : spec.body,
      },
      { signingDate: spec.signingDate },
    );
    const sent = { ...signed.headers };
    delete sent.host; // fetch sets it itself (same value)
    return {
      url: this.baseUrl + spec.path + queryString(query),
      init: { method, headers: sent, body: spec.body as any, duplex: 'half' } as RequestInit,
    };
  }

  async raw(spec: RequestSpec): Promise<Response> {
    const { url, init } = await this.signedRequest(spec);
    return fetch(url, init);
  }

  async json<T = any>(spec: RequestSpec): Promise<JsonResponse<T>> {
    const res = await this.raw(spec);
    const text = await res.text();
    let body: any;
    try {
      body = JSON.parse(text);
    } catch {
      throw new Error(`not JSON (HTTP ${res.status}): ${text.slice(0, 300)}`);
    }
    return { status: res.status, headers: res.headers, body };
  }

  get<T = any>(path: string, query?: RequestSpec['query']) {
    return this.json<T>({ method: 'GET', path, query });
  }

  post<T = any>(path: string, payload: unknown) {
    return this.json<T>({
      method: 'POST',
      path,
      body: typeof payload === 'string' ? payload : JSON.stringify(payload),
      headers: { 'content-type': 'application/json' },
    });
  }

  /** A presigned URL, as the SDK's presigner builds it. */
  async presign(path: string, query: RequestSpec['query'], expiresIn: number, signingDate?: Date): Promise<string> {
    const q = cleanQuery(query);
    const req = await this.signer.presign(
      {
        method: 'GET',
        protocol: 'http:',
        hostname: new URL(this.baseUrl).hostname,
        port: Number(new URL(this.baseUrl).port),
        path,
        query: q,
        headers: { host: this.host },
      },
      { expiresIn, signingDate },
    );
    return this.baseUrl + path + queryString(req.query as Record<string, string>);
  }
}

function cleanQuery(q: RequestSpec['query']): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(q ?? {})) if (v !== undefined) out[k] = String(v);
  return out;
}

/** RFC 3986 encoding, the same the signer uses for its canonical query. */
const rfc3986 = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());

function queryString(q: Record<string, string | string[] | null>): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(q)) {
    for (const one of Array.isArray(v) ? v : [v]) parts.push(`${rfc3986(k)}=${rfc3986(one ?? '')}`);
  }
  return parts.length ? '?' + parts.join('&') : '';
}
