import { Inject, Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import pg from 'pg';
import { APP_CONFIG, type AppConfig } from '#config';

/** A live access key: its owner and its plain secret (SigV4 verification needs the secret itself). */
export interface LiveKey {
  userId: number;
  secret: string;
}

/** Channel the `access_keys` trigger notifies with the ID of every changed or deleted key (migration 1764810000000). */
export const ACCESS_KEY_CHANNEL = 'jcs_access_keys';
const MAX_ENTRIES = 10_000;

/**
 * Verified access keys in memory, so a signed request costs no database round trip for its key.
 *
 * Revocation is prompt: every change to an `access_keys` row notifies ACCESS_KEY_CHANNEL (a trigger,
 * whoever made the change: this gateway, another one, the CLI, plain SQL), and this cache LISTENs on a
 * connection of its own and drops the key at once. Entries are kept only while that connection is up:
 * when it drops, the cache is emptied and bypassed until it has listened again, so a notification
 * missed while disconnected cannot leave a revoked key usable. `JCS_KEY_CACHE_SECONDS` bounds an
 * entry's age anyway (a connection that is silently dead looks alive until TCP notices); 0 turns the
 * cache off. Unknown keys are never cached: a new key works at once, and guessing cannot fill memory.
 *
 * The listener is started by the first lookup, so processes that never verify a signature (the CLI)
 * never open it.
 */
@Injectable()
export class AccessKeyCache implements OnModuleDestroy {
  private readonly log = new Logger('AccessKeyCache');
  private readonly entries = new Map<string, { key: LiveKey; until: number }>();
  /** Bumped by every eviction: a lookup that started before one must not store what it read. */
  private generation = 0;
  private listener: pg.Client | undefined;
  private listening = false;
  private connecting = false;
  private closed = false;
  private retryMs = 500;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly ttlMs: number;

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {
    this.ttlMs = config.JCS_KEY_CACHE_SECONDS * 1000;
  }

  get(accessKeyId: string): LiveKey | undefined {
    if (this.ttlMs === 0) return undefined;
    if (!this.listening) {
      this.listen();
      return undefined;
    }
    const hit = this.entries.get(accessKeyId);
    if (!hit) return undefined;
    if (hit.until > Date.now()) return hit.key;
    this.entries.delete(accessKeyId);
    return undefined;
  }

  /** Taken before reading a key from the database; `set` stores the read only if nothing was evicted since. */
  ticket(): number {
    return this.generation;
  }

  set(accessKeyId: string, key: LiveKey, ticket: number): void {
    if (!this.listening || ticket !== this.generation || this.ttlMs === 0) return;
    if (this.entries.size >= MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(accessKeyId, { key, until: Date.now() + this.ttlMs });
  }

  evict(accessKeyId: string): void {
    this.generation++;
    this.entries.delete(accessKeyId);
  }

  private forgetAll(): void {
    this.generation++;
    this.entries.clear();
  }

  private listen(): void {
    if (this.connecting || this.listening || this.closed || this.retryTimer) return;
    this.connecting = true;
    const client = new pg.Client({
      connectionString: this.config.DATABASE_URL,
      application_name: 'jcs-access-key-cache',
      keepAlive: true,
      connectionTimeoutMillis: 5000,
    });
    this.listener = client;
    const lost = (why: string) => {
      if (this.listener !== client) return;
      this.listener = undefined;
      const was = this.listening;
      this.listening = false;
      this.connecting = false;
      this.forgetAll();
      client.removeAllListeners('notification');
      client.end().catch(() => undefined);
      if (this.closed) return;
      if (was) this.log.warn(`key cache listener lost (${why}); keys are read from the database until it is back`);
      this.retryTimer = setTimeout(() => {
        this.retryTimer = undefined;
        this.listen();
      }, this.retryMs).unref();
      this.retryMs = Math.min(this.retryMs * 2, 30_000);
    };
    client.on('error', (e) => lost(e.message));
    client.on('end', () => lost('connection ended'));
    client.on('notification', (n) => {
      if (n.channel === ACCESS_KEY_CHANNEL && n.payload) this.evict(n.payload);
    });
    client
      .connect()
      .then(() => client.query(`LISTEN ${ACCESS_KEY_CHANNEL}`))
      .then(() => {
        if (this.listener !== client) return;
        this.connecting = false;
        this.retryMs = 500;
        // Whatever changed before LISTEN took effect was never cached (the cache was off until now).
        this.forgetAll();
        this.listening = true;
      })
      .catch((e: Error) => lost(e.message));
  }

  async onModuleDestroy(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    const client = this.listener;
    this.listener = undefined;
    this.listening = false;
    this.forgetAll();
    await client?.end().catch(() => undefined);
  }
}
