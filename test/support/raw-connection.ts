import net from 'node:net';

/** What came back on a raw socket: the parsed response (if one arrived) and how the socket ended. */
export interface RawResponse {
  status?: number;
  headers: Record<string, string>;
  body: string;
  /** The server closed (or reset) the connection. */
  closed: boolean;
  error?: string;
}

export interface RawConnection {
  socket: net.Socket;
  /** Resolves with the first complete response, or with what arrived when the socket ended or `ms` passed. */
  response(ms?: number): Promise<RawResponse>;
  /** Resolves true once the server has closed the socket, false if still open after `ms`. */
  closed(ms?: number): Promise<boolean>;
  /** Writes, resolving false instead of throwing when the server has already gone. */
  write(data: string | Buffer): Promise<boolean>;
}

/**
 * An HTTP/1.1 client at the byte level, for what fetch cannot do: send headers and hold the body back,
 * send it slowly, or watch the connection close.
 */
const open = new Set<net.Socket>();

/** Destroys every raw connection still open (call in afterEach: an open socket keeps the server from closing). */
export function destroyRawConnections(): void {
  for (const s of open) s.destroy();
  open.clear();
}

export async function rawConnect(baseUrl: string): Promise<RawConnection> {
  const { hostname, port } = new URL(baseUrl);
  const socket = net.connect(Number(port), hostname);
  open.add(socket);
  socket.once('close', () => open.delete(socket));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  let buf = Buffer.alloc(0);
  let ended = false;
  let error: string | undefined;
  const waiters = new Set<() => void>();
  const wake = () => [...waiters].forEach((w) => w());
  socket.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
    wake();
  });
  socket.on('error', (e) => {
    error = (e as NodeJS.ErrnoException).code ?? e.message;
    wake();
  });
  socket.on('close', () => {
    ended = true;
    wake();
  });

  const parse = (): RawResponse | null => {
    const end = buf.indexOf('\r\n\r\n');
    if (end < 0) return null;
    const [statusLine, ...lines] = buf.subarray(0, end).toString('latin1').split('\r\n');
    const headers: Record<string, string> = {};
    for (const l of lines) {
      const i = l.indexOf(':');
      headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
    }
    const status = Number(statusLine.split(' ')[1]);
    if (status >= 100 && status < 200) {
      // An interim response (100 Continue) has no body: hand it out and keep what follows for the next call.
      buf = buf.subarray(end + 4);
      return { status, headers, body: '', closed: false };
    }
    const body = buf.subarray(end + 4);
    const length = headers['content-length'] === undefined ? undefined : Number(headers['content-length']);
    if (length !== undefined && body.length < length && !ended) return null;
    if (length === undefined && !ended) return null;
    return { status, headers, body: body.toString('utf8'), closed: ended, error };
  };

  const until = <T>(ms: number, check: () => T | null, fallback: () => T): Promise<T> =>
    new Promise((resolve) => {
      const done = (v: T) => {
        waiters.delete(poll);
        clearTimeout(timer);
        resolve(v);
      };
      const poll = () => {
        const v = check();
        if (v !== null) done(v);
      };
      const timer = setTimeout(() => done(fallback()), ms);
      waiters.add(poll);
      poll();
    });

  return {
    socket,
    response: (ms = 30_000) =>
      until(
        ms,
        () => parse() ?? (ended ? { headers: {}, body: buf.toString('utf8'), closed: true, error } : null),
        () => parse() ?? { headers: {}, body: buf.toString('utf8'), closed: ended, error },
      ),
    closed: (ms = 30_000) => until(ms, () => (ended || socket.destroyed ? true : null), () => false),
    write: (data) =>
      new Promise((resolve) => {
        if (ended || socket.destroyed) return resolve(false);
        socket.write(data, (e) => resolve(!e));
      }),
  };
}

/** `METHOD path HTTP/1.1` + headers + blank line. */
export function requestHead(method: string, path: string, headers: Record<string, string | number>): string {
  return `${method} ${path} HTTP/1.1\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;
}
