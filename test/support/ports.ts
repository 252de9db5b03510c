import net from 'node:net';

/**
 * A port for a gateway process the test starts itself: random below Linux's ephemeral range (32768 and
 * up, where every `listen(0)` of the other suites lands, so a pick there could be taken at any moment),
 * and checked free by binding it once.
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 12000);
    if ((await canListen(port)) || attempt >= 50) return port;
  }
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}
