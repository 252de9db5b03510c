import { createHash, createHmac } from 'node:crypto';
import net from 'node:net';

/**
 * HTTP/1.1 over a bare TCP socket, so a test controls every byte it sends (invalid UTF-8, duplicate or
 * oversized headers, a Content-Length that lies, a body cut in the middle) — things node:http and
 * fetch refuse to produce.
 */
export interface RawRequest {
  method: string;
  /** Path and query exactly as sent on the request line (already percent-encoded as the test wants). */
  target: string;
  /** Header lines in order; a name may repeat. Values are sent as latin1 bytes (Buffer: verbatim). */
  headers: Array<[string, string | Buffer]>;
  body?: Buffer;
  /**
   * What to do after the body: 'wait' (default) reads the answer; 'end' half-closes the socket (the
   * server sees the body end early); 'stall' keeps the socket open without sending more.
   */
  after?: 'wait' | 'end' | 'stall';
}

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

export type RawOutcome =
  | { kind: 'response'; res: RawResponse }
  /** No (complete) answer before the socket closed or the wait ran out. */
  | { kind: 'noResponse'; reason: string; partial: Buffer };

/** Sends one request on a fresh connection and reads one answer (`Connection: close` is added). */
export function sendRaw(port: number, req: RawRequest, timeoutMs: number): Promise<RawOutcome> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const socket = net.connect({ host: '127.0.0.1', port });
    let settled = false;
    const finish = (why: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      const all = Buffer.concat(chunks);
      // After a close or reset, an answer without Content-Length (e.g. Node's bare 431) ends there.
      const res = parseResponse(all, why === 'closed' || why.startsWith('socket error'), req.method === 'HEAD');
      resolve(res ? { kind: 'response', res } : { kind: 'noResponse', reason: why, partial: all });
    };
    const timer = setTimeout(() => finish('timeout'), timeoutMs);
    socket.on('data', (d: Buffer) => {
      chunks.push(d);
      // A complete answer ends the exchange even if the server keeps the socket (it may, on a stalled body).
      if (parseResponse(Buffer.concat(chunks), false, req.method === 'HEAD')) finish('complete');
    });
    socket.on('error', (e) => finish(`socket error: ${(e as NodeJS.ErrnoException).code ?? e.message}`));
    socket.on('close', () => finish('closed'));
    socket.on('connect', () => {
      const head: Buffer[] = [Buffer.from(`${req.method} ${req.target} HTTP/1.1\r\n`, 'latin1')];
      for (const [k, v] of [...req.headers, ['connection', 'close'] as [string, string]]) {
        head.push(Buffer.from(`${k}: `, 'latin1'), Buffer.isBuffer(v) ? v : Buffer.from(v, 'latin1'), Buffer.from('\r\n'));
      }
      head.push(Buffer.from('\r\n'));
      // The server may answer (and close) before reading the body: a write error then is not a failure.
      socket.write(Buffer.concat([...head, req.body ?? Buffer.alloc(0)]), () => {
        if (req.after === 'end') socket.end();
      });
    });
  });
}

/** Parses a complete HTTP/1.1 response (Content-Length, chunked, or close-delimited after 'end'), else null. */
export function parseResponse(buf: Buffer, closed = false, head = false): RawResponse | null {
  // Interim answers (100 Continue) come before the real one: skip them.
  while (/^HTTP\/1\.[01] 1\d\d/.test(buf.subarray(0, 12).toString('latin1'))) {
    const end = buf.indexOf('\r\n\r\n');
    if (end < 0) return null;
    buf = buf.subarray(end + 4);
  }
  const headEnd = buf.indexOf('\r\n\r\n');
  if (headEnd < 0) return null;
  const lines = buf.subarray(0, headEnd).toString('latin1').split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]);
  if (!m) return null;
  const headers: Record<string, string> = {};
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    if (i > 0) {
      const k = l.slice(0, i).trim().toLowerCase();
      headers[k] = headers[k] === undefined ? l.slice(i + 1).trim() : `${headers[k]}, ${l.slice(i + 1).trim()}`;
    }
  }
  const rest = buf.subarray(headEnd + 4);
  const status = Number(m[1]);
  if (head || status === 204 || status === 304) return { status, headers, body: Buffer.alloc(0) };
  if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
    const body: Buffer[] = [];
    let at = 0;
    for (;;) {
      const eol = rest.indexOf('\r\n', at);
      if (eol < 0) return null;
      const size = parseInt(rest.subarray(at, eol).toString('latin1'), 16);
      if (Number.isNaN(size)) return null;
      if (size === 0) return { status, headers, body: Buffer.concat(body) };
      if (rest.length < eol + 2 + size + 2) return null;
      body.push(rest.subarray(eol + 2, eol + 2 + size));
      at = eol + 2 + size + 2;
    }
  }
  if (headers['content-length'] !== undefined) {
    const n = Number(headers['content-length']);
    return rest.length >= n ? { status, headers, body: rest.subarray(0, n) } : null;
  }
  // Close-delimited: complete only once the server closed the socket.
  return closed ? { status, headers, body: rest } : null;
}

/** RFC 3986 percent-encoding of raw bytes: everything but unreserved characters, upper-case hex. */
export function percentEncode(bytes: Buffer | string): string {
  const b = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes, 'utf8');
  let out = '';
  for (const c of b) {
    const ch = String.fromCharCode(c);
    out += /[A-Za-z0-9\-._~]/.test(ch) ? ch : '%' + c.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

/**
 * A query string that is its own SigV4 canonical form (every byte percent-encoded, pairs sorted), so a
 * signature over it holds whatever bytes the values carry (NUL, invalid UTF-8, lone surrogates).
 */
export function canonicalQueryOf(pairs: Array<[string, Buffer | string]>): string {
  return pairs
    .map(([k, v]) => [percentEncode(k), percentEncode(v)])
    .sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
}

export interface RawSigning {
  accessKey: string;
  secretKey: string;
  region?: string;
  service?: string;
  date?: Date;
}

const sha256Hex = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const hmac = (k: Buffer | string, s: string) => createHmac('sha256', k).update(s).digest();
const amzDateOf = (d: Date) => d.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');

/**
 * Signs a raw request with SigV4 (header form) over exactly what `sendRaw` sends: host,
 * x-amz-content-sha256 and x-amz-date are signed; `target`'s query must already be canonical
 * (canonicalQueryOf) and its path plain (unreserved characters and `/`). Returns the headers to add.
 * A separate signer from the SDK's because the SDK cannot sign bytes that are not valid UTF-16 text.
 */
export function signRaw(
  s: RawSigning,
  req: { method: string; target: string; host: string; payload: 'UNSIGNED-PAYLOAD' | Buffer },
): Array<[string, string]> {
  const region = s.region ?? 'any';
  const service = s.service ?? 'jcs';
  const amzDate = amzDateOf(s.date ?? new Date());
  const day = amzDate.slice(0, 8);
  const q = req.target.indexOf('?');
  const path = q < 0 ? req.target : req.target.slice(0, q);
  const query = q < 0 ? '' : req.target.slice(q + 1);
  const payloadHash = req.payload === 'UNSIGNED-PAYLOAD' ? req.payload : sha256Hex(req.payload);
  const canonical = [
    req.method,
    path,
    query,
    `host:${req.host}\nx-amz-content-sha256:${payloadHash}\nx-amz-date:${amzDate}\n`,
    'host;x-amz-content-sha256;x-amz-date',
    payloadHash,
  ].join('\n');
  const scope = `${day}/${region}/${service}/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256Hex(canonical)].join('\n');
  const key = hmac(hmac(hmac(hmac('AWS4' + s.secretKey, day), region), service), 'aws4_request');
  const signature = createHmac('sha256', key).update(toSign).digest('hex');
  return [
    ['host', req.host],
    ['x-amz-content-sha256', payloadHash],
    ['x-amz-date', amzDate],
    ['authorization', `AWS4-HMAC-SHA256 Credential=${s.accessKey}/${scope}, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=${signature}`],
  ];
}
