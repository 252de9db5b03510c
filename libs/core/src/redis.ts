import { Redis, type RedisOptions } from 'ioredis';
import { redactUrl } from '#common';

/** ioredis options from a redis:// URL; BullMQ workers need maxRetriesPerRequest null. */
export function redisOptions(url: string): RedisOptions {
  const u = new URL(url);
  return {
    host: u.hostname,
    port: u.port ? Number(u.port) : 6379,
    username: u.username ? decodeURIComponent(u.username) : undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    db: u.pathname.length > 1 ? Number(u.pathname.slice(1)) : 0,
    tls: u.protocol === 'rediss:' ? {} : undefined,
    maxRetriesPerRequest: null,
  };
}

/** Fails with a message naming the URL and how to start Redis when it does not answer within 3 s. */
export async function pingRedis(url: string): Promise<void> {
  const client = new Redis({ ...redisOptions(url), lazyConnect: true, connectTimeout: 3000, retryStrategy: () => null });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.ping();
  } catch (e) {
    throw new Error(
      `cannot reach Redis at ${redactUrl(url)} (${(e as Error).message || 'no answer'}); start it with ` +
        '`docker compose up -d redis` or your local service (e.g. `redis-server --daemonize yes`), or set REDIS_URL',
    );
  } finally {
    client.disconnect();
  }
}
