import { afterEach, describe, expect, it } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { applyServerLimits } from './http-server.js';

const LIMITS = {
  JCS_IDLE_TIMEOUT_MS: 700,
  JCS_HEADERS_TIMEOUT_MS: 5000,
  JCS_KEEPALIVE_TIMEOUT_MS: 5000,
  JCS_MAX_CONNECTIONS: 100,
  JCS_MAX_HEADER_BYTES: 16384,
};

/** A real server with the gateway's limits whose handler reads the body, then works `workMs` silently. */
async function serverWorking(workMs: number): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => setTimeout(() => res.end('done'), workMs));
  });
  applyServerLimits(server, LIMITS);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port };
}

/** Sends `head` + `body` and collects what comes back until the server closes (or `maxMs`). */
function exchange(port: number, head: string, body: string, opts: { end?: boolean; maxMs?: number } = {}): Promise<{ text: string; closedBy: 'server' | 'test' }> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let text = '';
    const timer = setTimeout(() => {
      s.destroy();
      resolve({ text, closedBy: 'test' });
    }, opts.maxMs ?? 10_000);
    s.on('data', (d) => (text += d));
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(timer);
      resolve({ text, closedBy: 'server' });
    });
    s.write(head + body);
    if (opts.end) s.end();
  });
}

describe('server limits', () => {
  let server: Server | undefined;
  afterEach(async () => {
    await new Promise((r) => server?.close(r));
    server = undefined;
  });

  it('a complete request the server works on for longer than the idle timeout is answered', async () => {
    const s = await serverWorking(2500);
    server = s.server;
    const out = await exchange(s.port, 'POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nConnection: close\r\n\r\n', 'ok');
    expect(out.text).toMatch(/^HTTP\/1.1 200/);
    expect(out.text.endsWith('done')).toBe(true);
  });

  it('a body that stalls is still cut by the idle timeout', async () => {
    const s = await serverWorking(0);
    server = s.server;
    const out = await exchange(s.port, 'POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n', 'only5', { maxMs: 15_000 });
    expect(out.closedBy).toBe('server');
    expect(out.text).toBe('');
  });
});
