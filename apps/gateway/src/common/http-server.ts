import { STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { AppConfig } from '#config';

/** The client waits for `100 Continue` before it sends the body (only the edge grants it, see below). */
export const expectsContinue = (req: IncomingMessage) => /100-continue/i.test(String(req.headers.expect ?? ''));

type ServerLimits = Pick<
  AppConfig,
  'JCS_IDLE_TIMEOUT_MS' | 'JCS_HEADERS_TIMEOUT_MS' | 'JCS_KEEPALIVE_TIMEOUT_MS' | 'JCS_MAX_CONNECTIONS' | 'JCS_MAX_HEADER_BYTES'
>;

/**
 * Timeouts and caps that fit a storage gateway, applied to the server before it listens:
 * - no total time for a request (`requestTimeout` 0): an object may be 5 TiB and a body that keeps
 *   flowing must never be cut (Node's default cuts every request after 300 s);
 * - an idle timeout instead: a socket with no byte in either direction for JCS_IDLE_TIMEOUT_MS (a
 *   stalled body, a client that stopped reading a download) is closed;
 * - the headers must arrive within JCS_HEADERS_TIMEOUT_MS (slow-headers attacks) and fit in
 *   JCS_MAX_HEADER_BYTES (400 BadArgument otherwise); an idle keep-alive connection is closed after
 *   JCS_KEEPALIVE_TIMEOUT_MS; connections beyond JCS_MAX_CONNECTIONS are refused (closed at once).
 * `Expect: 100-continue` is left to the edge (checkContinue below). Node reads these properties per
 * connection, and the headers check runs on the connections-checking interval, which is why that
 * is tied to the headers timeout (its default, 30 s, would make a short timeout meaningless).
 */
export function applyServerLimits(server: Server, limits: ServerLimits): void {
  server.requestTimeout = 0;
  server.headersTimeout = limits.JCS_HEADERS_TIMEOUT_MS;
  server.timeout = limits.JCS_IDLE_TIMEOUT_MS;
  server.keepAliveTimeout = limits.JCS_KEEPALIVE_TIMEOUT_MS;
  server.maxConnections = limits.JCS_MAX_CONNECTIONS;
  // Both are createServer options in the typings, but Node reads them from the server: the header
  // limit when each connection's parser is set up, the interval when the server starts listening.
  const tunable = server as Server & { maxHeaderSize: number; connectionsCheckingInterval: number };
  tunable.maxHeaderSize = limits.JCS_MAX_HEADER_BYTES;
  tunable.connectionsCheckingInterval = Math.max(100, Math.min(1000, Math.floor(limits.JCS_HEADERS_TIMEOUT_MS / 4)));
  // Node answers `Expect: 100-continue` itself, before any route runs, inviting the body of a request
  // that may not be authenticated. Handled here, the invitation is sent by the SigV4 step once the
  // request is authenticated, or by the JSON body reader when the signature needs the body; any other
  // answer is final and needs no body.
  server.on('checkContinue', (req, res) => server.emit('request', req, res));
  // A FIN from the client before the answer is taken as the client gone (as nginx's 499 does; Node's
  // default, kept on purpose): work for it stops (imports, completions) instead of going on for no one.
  // The idle timeout is for a peer that stalls; a complete request whose answer the gateway is still
  // working on (a multipart completion hashing a large object, a package import) is not idle on the
  // client's side, and nothing is waiting to be written: keep it. Anything else (a stalled body, a
  // client that stopped reading a download) is closed.
  server.on('timeout', (socket: Socket) => {
    const res = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
    const working = res != null && !res.writableEnded && res.req?.complete === true && socket.writableLength === 0;
    if (!working) socket.destroy();
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => answerClientError(err, socket, limits.JCS_MAX_HEADER_BYTES));
}

/**
 * What Node would answer to a request it cannot parse, as a contract envelope: `BadArgument` with the
 * contract's status 400 (as S3 answers RequestHeaderSectionTooLarge and RequestTimeout with 400),
 * saying whether the headers were too large, too slow or malformed; nothing when a response is
 * already under way or the peer is gone.
 */
function answerClientError(err: NodeJS.ErrnoException, socket: Duplex, maxHeaderBytes: number): void {
  const inFlight = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (err.code === 'ECONNRESET' || !socket.writable || inFlight?.headersSent) {
    socket.destroy();
    return;
  }
  const status = 400;
  const message =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? `request headers are larger than ${maxHeaderBytes} bytes`
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? 'request headers did not arrive in time'
        : 'malformed HTTP request';
  const body = JSON.stringify({ code: 'BadArgument', message, data: null });
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}
