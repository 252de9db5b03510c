import { z } from 'zod';
import path from 'node:path';
import ipaddr from 'ipaddr.js';

/**
 * Every setting the gateway and worker read, parsed and validated once at boot. A bad value fails
 * start-up with one line naming the variable (see `loadConfig`).
 */
const bytes = (def: number) => z.coerce.number().int().positive().default(def);
const seconds = (def: number) => z.coerce.number().int().nonnegative().default(def);

const GiB = 1024 ** 3;
/** A comma-separated list of CIDRs (`10.0.0.0/8,fd00::/8`); every entry must parse. */
const cidrList = (def: string) =>
  z
    .string()
    .default(def)
    .refine((v) => v.split(',').every((c) => c.trim() === '' || ipaddr.isValidCIDR(c.trim())), 'must be comma-separated CIDRs such as 10.0.0.0/8,fd00::/8');

export const configSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(7890),
  HOST: z.string().default('0.0.0.0'),
  DATABASE_URL: z
    .string()
    .url()
    .refine((u) => /^postgres(ql)?:/.test(u), 'must be a postgres:// URL')
    .default('postgres://postgres@127.0.0.1:5432/jcs'),
  REDIS_URL: z
    .string()
    .url()
    .refine((u) => /^rediss?:/.test(u), 'must be a redis:// URL')
    .default('redis://127.0.0.1:6379'),
  JCS_DATA_DIR: z.string().min(1).default('./data'),
  /** 32 bytes, base64. Absent: generated into JCS_DATA_DIR/master.key. */
  JCS_MASTER_KEY: z
    .string()
    .refine((k) => Buffer.from(k, 'base64').length === 32, 'must be 32 bytes encoded in base64')
    .optional(),
  /** Host directories under which tenants may root Local user spaces (path-delimiter separated). */
  JCS_LOCAL_ROOTS: z.string().default(''),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Prefix of BullMQ queue names: lets several gateways (or test runs) share one Redis. */
  JCS_QUEUE_PREFIX: z.string().min(1).default('jcs'),

  JCS_SHARD_STORE_MAX_SIZE: bytes(1024 * GiB),
  JCS_MAX_OBJECT_SIZE: bytes(5 * 1024 * GiB),
  JCS_MAX_FILES_PER_UPLOAD: z.coerce.number().int().positive().default(1000),
  JCS_MAX_PARTS: z.coerce.number().int().positive().default(10000),
  JCS_MAX_JSON_BODY: bytes(10 * 1024 * 1024),
  /** Unreferenced shards and temp files younger than this are never collected. */
  JCS_GC_GRACE_SECONDS: seconds(3600),
  JCS_GC_INTERVAL_SECONDS: z.coerce.number().int().positive().default(600),
  /** An unreferenced shard is removed only once it has been unreferenced ("doomed") this long: reads in flight finish first. */
  JCS_GC_READ_GRACE_SECONDS: seconds(300),
  /** Scrub (issue 9 §6): bytes per second the worker reads to verify blocks; 0 = no scrub. */
  JCS_SCRUB_BYTES_PER_SECOND: z.coerce.number().int().min(0).default(32 * 1024 * 1024),
  /** Scrub: every block is verified again once its last check is this old; also how often a scrub pass starts. 0 = no scrub. */
  JCS_SCRUB_INTERVAL_SECONDS: z.coerce.number().int().min(0).default(7 * 86400),
  /** Temp files of a live gateway process older than this are swept (a crashed process's at once). */
  JCS_GC_TEMP_GRACE_SECONDS: seconds(86400),
  /** A process whose heartbeat is older than this counts as gone: its temp files are swept. */
  JCS_INSTANCE_TTL_SECONDS: z.coerce.number().int().positive().default(60),
  JCS_MULTIPART_MAX_AGE_SECONDS: seconds(7 * 24 * 3600),
  /** How long a storage backend may take to answer before the request fails with OperationFailed. */
  JCS_BACKEND_TIMEOUT_MS: z.coerce.number().int().positive().default(30000),
  /** HTTP edge: a socket with no byte either way for this long is closed (there is no total request time). */
  JCS_IDLE_TIMEOUT_MS: z.coerce.number().int().positive().default(120000),
  /** HTTP edge: the request headers must have arrived within this time. */
  JCS_HEADERS_TIMEOUT_MS: z.coerce.number().int().positive().default(30000),
  /** HTTP edge: an idle keep-alive connection is closed after this time. */
  JCS_KEEPALIVE_TIMEOUT_MS: z.coerce.number().int().positive().default(5000),
  /** HTTP edge: connections beyond this many are refused. */
  JCS_MAX_CONNECTIONS: z.coerce.number().int().positive().default(4096),
  /** HTTP edge: larger request headers are answered 431. */
  JCS_MAX_HEADER_BYTES: z.coerce.number().int().min(1024).default(16384),
  /** Addresses (CIDRs, comma-separated) that S3/OBS endpoints may never resolve to. */
  JCS_ENDPOINT_DENY: cidrList('169.254.0.0/16,fe80::/10,fd00:ec2::254/128,100.100.100.200/32,0.0.0.0/8,::/128'),
  /** When set, every address an S3/OBS endpoint resolves to must lie in one of these CIDRs. */
  JCS_ENDPOINT_ALLOW: cidrList(''),
  /** How long a verified access key may be served from memory (revocations reach it at once; see AccessKeyCache). 0: off. */
  JCS_KEY_CACHE_SECONDS: z.coerce.number().int().min(0).default(60),
  /** Files one `userSpace/createPackage` may import. */
  JCS_MAX_FILES_PER_IMPORT: z.coerce.number().int().positive().default(100000),
  /** Space syncer: a run's lock lasts this long unless its worker renews it (every second); a dead worker's run is resumed after it. */
  JCS_SYNC_LEASE_SECONDS: z.coerce.number().int().min(2).default(30),
  /** Space syncer: runs one worker process executes at once. */
  JCS_SYNC_CONCURRENT_RUNS: z.coerce.number().int().positive().default(2),
  /** Space syncer: how often a worker checks that Redis still holds the schedules and resumes runs whose worker died. */
  JCS_SYNC_RECONCILE_SECONDS: z.coerce.number().int().positive().default(10),
  /** Space syncer: attempts per file (the first included) before it is listed as failed. */
  JCS_SYNC_RETRY_ATTEMPTS: z.coerce.number().int().positive().default(3),
  /** Space syncer: backoff before the first retry, doubled for each further one. */
  JCS_SYNC_RETRY_BASE_MS: z.coerce.number().int().nonnegative().default(500),
  /** The redundancy policy of packages without their own (JSON, #redundancy's parsePolicy checks it at start-up). */
  JCS_DEFAULT_REDUNDANCY: z
    .string()
    .default('{"type":"none"}')
    .refine((v) => {
      try {
        const o = JSON.parse(v);
        return typeof o === 'object' && o !== null && !Array.isArray(o);
      } catch {
        return false;
      }
    }, 'must be a JSON redundancy policy such as {"type":"ec","k":4,"n":6,"chunkSize":1048576}'),
  /** Bytes per granule checksum of a block (a power of two of at most 1 MiB). */
  JCS_GRANULE_BYTES: z.coerce
    .number()
    .int()
    .min(64)
    .max(1024 * 1024)
    .default(65536)
    .refine((v) => (v & (v - 1)) === 0, 'must be a power of two'),
  /** How often the worker looks for objects not stored as their package's policy says and queues their conversion. */
  JCS_CONVERT_SWEEP_SECONDS: z.coerce.number().int().positive().default(600),
  /** Erasure codec: worker threads of the encode/rebuild pool. Absent: os.availableParallelism(). */
  JCS_CODEC_THREADS: z.coerce.number().int().min(1).max(256).optional(),
});

export type AppConfig = Omit<z.infer<typeof configSchema>, 'JCS_MASTER_KEY' | 'JCS_LOCAL_ROOTS'> & {
  JCS_MASTER_KEY?: string;
  JCS_DATA_DIR: string;
  JCS_LOCAL_ROOTS: string[];
};

export class ConfigError extends Error {}

/** Parses the environment; throws ConfigError with one line per bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const clean = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = configSchema.safeParse(clean);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`invalid configuration: ${lines.join('; ')}`);
  }
  const c = parsed.data;
  const dataDir = path.resolve(c.JCS_DATA_DIR);
  return {
    ...c,
    JCS_DATA_DIR: dataDir,
    JCS_LOCAL_ROOTS: c.JCS_LOCAL_ROOTS.split(path.delimiter)
      .filter((s) => s.length > 0)
      .map((s) => path.resolve(s)),
  };
}

/** Nest injection token for the parsed AppConfig. */
export const APP_CONFIG = Symbol('APP_CONFIG');
