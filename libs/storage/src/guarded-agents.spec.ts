import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer as createHttpServer, get, type Server as HttpServer } from 'node:http';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { guardedAgents, CONNECT_REFUSED_CODE, type ConnectGuard } from './guarded-agents.js';
import { ObsDriver } from './obs-driver.js';

/**
 * Everything here stays on loopback: 127.0.0.1 plays the permitted backend, 127.0.0.2 the internal
 * address the guard refuses; a listener there counts connections (any at all means the guard came late).
 */
describe('guardedAgents', () => {
  let internal: Server;
  let internalPort: number;
  let reached = 0;
  let redirector: HttpServer;
  let redirectorPort: number;
  const guard: ConnectGuard = {
    permits: (a) => a !== '127.0.0.2',
    lookup: (host, opts, cb) => (cb as unknown as (e: Error) => void)(new Error(`no names in this test: ${host}`)),
  };

  beforeAll(async () => {
    internal = createServer((s) => {
      reached++;
      s.destroy();
    });
    await new Promise<void>((r) => internal.listen(0, '127.0.0.2', () => r()));
    internalPort = (internal.address() as AddressInfo).port;
    // A backend the policy permits that redirects every request to the internal address.
    redirector = createHttpServer((req, res) => {
      res.writeHead(307, { location: `http://127.0.0.2:${internalPort}${req.url}` });
      res.end();
    });
    await new Promise<void>((r) => redirector.listen(0, '127.0.0.1', () => r()));
    redirectorPort = (redirector.address() as AddressInfo).port;
  });
  afterAll(() => {
    internal.close();
    redirector.close();
  });

  it('refuses a literal address the guard does not permit, before connecting', async () => {
    const { http, https } = guardedAgents(guard, { keepAlive: true });
    const err = await new Promise<NodeJS.ErrnoException>((resolve) =>
      get({ host: '127.0.0.2', port: internalPort, agent: http }, () => resolve(new Error('connected'))).on('error', resolve),
    );
    http.destroy();
    https.destroy();
    expect(err.code).toBe(CONNECT_REFUSED_CODE);
    expect(reached).toBe(0);
  });

  it('stops the OBS SDK following a redirect to a refused address', async () => {
    const driver = new ObsDriver({
      endpoint: `http://127.0.0.1:${redirectorPort}`,
      region: 'r',
      bucket: 'b',
      accessKeyId: 'a',
      secretAccessKey: 's',
      requestTimeoutMs: 3000,
      connectGuard: guard,
    });
    await expect(driver.head('k')).rejects.toMatchObject({ code: 'OperationFailed' });
    await driver.close?.();
    expect(reached).toBe(0);
  });

  it('without a guard, the same redirect is followed (what the guard is for)', async () => {
    const driver = new ObsDriver({
      endpoint: `http://127.0.0.1:${redirectorPort}`,
      region: 'r',
      bucket: 'b',
      accessKeyId: 'a',
      secretAccessKey: 's',
      requestTimeoutMs: 3000,
    });
    await driver.head('k').catch(() => undefined);
    await driver.close?.();
    expect(reached).toBeGreaterThan(0);
    reached = 0;
  });
});
