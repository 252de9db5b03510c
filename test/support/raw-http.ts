import { randomBytes } from 'node:crypto';
import net from 'node:net';
import type { SignedClient } from './signed-client.js';

/** What came back on a raw connection: a parsed response, or nothing before the server closed it. */
export type RawOutcome =
  | { kind: 'response'; status: number; headers: Record<string, string>; body: Buffer }
  | { kind: 'closed'; bytes: Buffer }
  | { kind: 'timeout' };

export interface RawSend {
  method?: string;
  path: string;
  headers: Record<string, string>;
  body: Buffer;
  /** Content-Length to declare; more than body.length means the client half-closes after the body (it "goes away"). */
  declaredLength?: number;
  timeoutMs?: number;
}

/**
 * One HTTP/1.1 request written byte by byte over node:net, so a test controls exactly where a body
 * ends (fetch would refuse or fix up a body shorter than its Content-Length). `Connection: close`: the
 * outcome is whatever the server sends before it closes the socket.
 */
export function rawRequest(baseUrl: string, spec: RawSend): Promise<RawOutcome> {
  const { hostname, port, host } = new URL(baseUrl);
  const declared = spec.declaredLength ?? spec.body.length;
  const head =
    `${spec.method ?? 'POST'} ${spec.path} HTTP/1.1\r\n` +
    Object.entries({ host, ...spec.headers, 'content-length': String(declared), connection: 'close' })
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('') +
    '\r\n';
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const socket = net.connect(Number(port), hostname);
    let done = false;
    const finish = (o: RawOutcome) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(o);
    };
    const timer = setTimeout(() => finish({ kind: 'timeout' }), spec.timeoutMs ?? 60_000);
    socket.on('data', (c) => chunks.push(c));
    socket.on('error', () => undefined); // EPIPE/ECONNRESET: the server closed on us; judged on 'close'
    socket.on('close', () => {
      const all = Buffer.concat(chunks);
      finish(parseResponse(all) ?? { kind: 'closed', bytes: all });
    });
    socket.write(Buffer.from(head, 'latin1'));
    socket.write(spec.body, () => {
      // A body shorter than declared: the client gives up (FIN) but still reads an answer.
      if (declared > spec.body.length) socket.end();
    });
  });
}

function parseResponse(all: Buffer): RawOutcome | undefined {
  const sep = all.indexOf('\r\n\r\n');
  if (sep < 0) return undefined;
  const lines = all.subarray(0, sep).toString('latin1').split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
  if (!m) return undefined;
  const headers: Record<string, string> = {};
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  let body = all.subarray(sep + 4);
  if (headers['transfer-encoding'] === 'chunked') body = dechunk(body);
  else if (headers['content-length'] !== undefined) {
    const n = Number(headers['content-length']);
    if (body.length < n) return undefined; // the server closed in the middle of its answer
    body = body.subarray(0, n);
  }
  return { kind: 'response', status: Number(m[1]), headers, body };
}

function dechunk(b: Buffer): Buffer {
  const out: Buffer[] = [];
  let i = 0;
  for (;;) {
    const eol = b.indexOf('\r\n', i);
    if (eol < 0) break;
    const n = parseInt(b.subarray(i, eol).toString('latin1'), 16);
    if (!Number.isFinite(n) || n === 0) break;
    out.push(b.subarray(eol + 2, eol + 2 + n));
    i = eol + 2 + n + 2;
  }
  return Buffer.concat(out);
}

/** Headers that sign a POST with an unsigned payload (the body is not part of the signature). */
export async function signedHeaders(client: SignedClient, path: string, headers: Record<string, string>): Promise<Record<string, string>> {
  const { init } = await client.signedRequest({ method: 'POST', path, headers, unsignedPayload: true });
  return init.headers as Record<string, string>;
}

/** A multipart body with a known boundary, and where each part (and its headers' end) starts. */
export interface BuiltForm {
  body: Buffer;
  boundary: string;
  contentType: string;
  /** Offset of each part's `--boundary` line, and of the first byte of its content. */
  parts: Array<{ start: number; contentStart: number; contentEnd: number }>;
  /** Offset of the closing `--boundary--`. */
  closing: number;
}

export type RawPart = { name: string; filename?: string; data: Buffer; headers?: string[] };

export function buildForm(parts: RawPart[], boundary = '----jcsraw' + randomBytes(8).toString('hex')): BuiltForm {
  const bufs: Buffer[] = [];
  let at = 0;
  const push = (b: Buffer) => {
    bufs.push(b);
    at += b.length;
  };
  const offsets: BuiltForm['parts'] = [];
  for (const p of parts) {
    const start = at;
    const disp = `Content-Disposition: form-data; name="${p.name}"` + (p.filename !== undefined ? `; filename="${p.filename}"` : '');
    const extra = p.headers ?? (p.filename !== undefined ? ['Content-Type: application/octet-stream'] : []);
    push(Buffer.from(`--${boundary}\r\n${[disp, ...extra].join('\r\n')}\r\n\r\n`, 'utf8'));
    const contentStart = at;
    push(p.data);
    const contentEnd = at;
    push(Buffer.from('\r\n'));
    offsets.push({ start, contentStart, contentEnd });
  }
  const closing = at;
  push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(bufs), boundary, contentType: `multipart/form-data; boundary=${boundary}`, parts: offsets, closing };
}
