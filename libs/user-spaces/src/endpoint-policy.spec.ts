import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Agent, get } from 'node:http';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { S3Driver } from '#storage';
import { ENDPOINT_DENIED_CODE, EndpointPolicy } from './endpoint-policy.js';

const DEFAULT_DENY = '169.254.0.0/16,fe80::/10,fd00:ec2::254/128,100.100.100.200/32,0.0.0.0/8,::/128';

describe('EndpointPolicy.permits', () => {
  const policy = new EndpointPolicy({ deny: DEFAULT_DENY, allow: '' });

  it.each([
    '169.254.169.254',
    '169.254.0.1',
    'fe80::1',
    'FE80::abcd',
    '::ffff:169.254.169.254',
    '::ffff:a9fe:a9fe',
    '::169.254.169.254', // IPv4-compatible
    '64:ff9b::a9fe:a9fe', // NAT64
    '100.100.100.200',
    'fd00:ec2::254',
    '0.0.0.0',
    '0.1.2.3',
    '::',
    '[fe80::1]',
    'fe80::1%eth0',
    'not an address',
  ])('denies %s', (addr) => expect(policy.permits(addr)).toBe(false));

  it.each(['127.0.0.1', '::1', '10.1.2.3', '192.168.1.1', '8.8.8.8', '2001:db8::1', '::ffff:127.0.0.1', '100.100.100.201', 'fd00:ec2::253'])(
    'permits %s by default (loopback and private ranges included: the README says to deny them in production)',
    (addr) => expect(policy.permits(addr)).toBe(true),
  );

  it('with an allow list, permits only what it lists (after unwrapping IPv4 in IPv6), and the deny list still wins', () => {
    const p = new EndpointPolicy({ deny: `${DEFAULT_DENY},10.9.0.0/16`, allow: '10.0.0.0/8, 2001:db8::/32' });
    expect(p.permits('10.1.2.3')).toBe(true);
    expect(p.permits('::ffff:10.1.2.3')).toBe(true);
    expect(p.permits('2001:db8::5')).toBe(true);
    expect(p.permits('10.9.1.1')).toBe(false);
    expect(p.permits('127.0.0.1')).toBe(false);
    expect(p.permits('::1')).toBe(false);
    expect(p.permits('11.0.0.1')).toBe(false);
  });

  it.each([
    ['http://2852039166/', false],
    ['http://0xa9fea9fe/', false],
    ['http://0251.0376.0251.0376/', false],
    ['http://[::ffff:169.254.169.254]:9000/', false],
    ['http://127.0.0.1:9000/', true],
    ['http://localhost:9000/', undefined], // a name: judged by its addresses
  ])('judges the literal host of %s as the sockets will see it', (url, expected) => {
    expect(policy.literalPermitted(url)).toBe(expected);
  });

  it('refuses a name by the addresses it resolves to (localhost, resolved from the hosts file)', async () => {
    const noLoopback = new EndpointPolicy({ deny: `${DEFAULT_DENY},127.0.0.0/8,::1/128`, allow: '' });
    await expect(noLoopback.assertPermitted('http://localhost:9/')).rejects.toMatchObject({ code: 'BadArgument' });
    await expect(policy.assertPermitted('http://localhost:9/')).resolves.toBeUndefined();
    await expect(policy.assertPermitted('http://169.254.169.254/')).rejects.toMatchObject({ code: 'BadArgument' });
  });
});

describe('EndpointPolicy.lookup refuses at connect time, before any packet', () => {
  let server: Server;
  let port: number;
  let accepted = 0;
  const noLoopback = new EndpointPolicy({ deny: '127.0.0.0/8,::1/128', allow: '' });

  beforeAll(async () => {
    server = createServer((s) => {
      accepted++;
      s.destroy();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => void server.close());

  it('fails an http.Agent connection to a name resolving to a denied address', async () => {
    const agent = new Agent({ lookup: noLoopback.lookup });
    const err = await new Promise<NodeJS.ErrnoException>((resolve) => {
      get({ host: 'localhost', port, agent }, () => resolve(new Error('connected') as NodeJS.ErrnoException)).on('error', resolve);
    });
    agent.destroy();
    expect(err.code).toBe(ENDPOINT_DENIED_CODE);
    expect(accepted).toBe(0);
  });

  it('is what the S3 driver’s sockets use (also for large bodies, which the SDK sends with Expect: 100-continue)', async () => {
    const driver = new S3Driver({
      endpoint: `http://localhost:${port}`,
      region: 'us-east-1',
      bucket: 'b',
      forcePathStyle: true,
      accessKeyId: 'a',
      secretAccessKey: 'b',
      requestTimeoutMs: 3000,
      connectGuard: noLoopback,
    });
    await expect(driver.head('k')).rejects.toMatchObject({ code: 'OperationFailed' });
    await expect(driver.write('big', (await import('node:stream')).Readable.from([Buffer.alloc(3 * 1024 * 1024)]), { size: 3 * 1024 * 1024 })).rejects.toMatchObject({
      code: 'OperationFailed',
    });
    await driver.close?.();
    expect(accepted).toBe(0);
  });

  it('still connects when the policy permits the address', async () => {
    const agent = new Agent({ lookup: new EndpointPolicy({ deny: DEFAULT_DENY, allow: '' }).lookup });
    await new Promise<void>((resolve) => {
      get({ host: 'localhost', port, agent }, () => resolve()).on('error', () => resolve());
    });
    agent.destroy();
    expect(accepted).toBe(1);
  });
});

describe('JCS_ENDPOINT_DENY / JCS_ENDPOINT_ALLOW configuration', () => {
  it('defaults to the link-local and metadata list, and a malformed CIDR stops start-up naming the variable', async () => {
    const { loadConfig } = await import('#config');
    expect(loadConfig({}).JCS_ENDPOINT_DENY).toBe(DEFAULT_DENY);
    expect(loadConfig({}).JCS_MAX_FILES_PER_IMPORT).toBe(100000);
    expect(() => loadConfig({ JCS_ENDPOINT_ALLOW: '10.0.0.0/8,nonsense' })).toThrow(/JCS_ENDPOINT_ALLOW/);
    expect(() => loadConfig({ JCS_ENDPOINT_DENY: '169.254.0.0/33' })).toThrow(/JCS_ENDPOINT_DENY/);
  });
});
