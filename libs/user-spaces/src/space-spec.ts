import { badArgument } from '#common';
import { assertSafePrefix, type CredentialSpec } from '#storage';

/**
 * Validation of the user-space JSON of spec §6: `storage` and `credential` are tagged unions whose
 * types must match; unknown types, missing or mistyped fields are BadArgument. Returns clean copies
 * holding only the known fields.
 */
export type StorageInput =
  | { type: 'Local'; rootDir?: string }
  | { type: 'S3'; region: string; endpoint: string; bucket: string; forcePathStyle?: boolean }
  | { type: 'OBS'; region: string; endpoint: string; bucket: string; projectID: string };

const obj = (v: unknown, what: string): Record<string, unknown> => {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw badArgument(`${what} must be a JSON object`);
  return v as Record<string, unknown>;
};

const str = (o: Record<string, unknown>, key: string, what: string, opts: { optional?: boolean; nonEmpty?: boolean } = {}): string | undefined => {
  const v = o[key];
  if (v === undefined || v === null) {
    if (opts.optional) return undefined;
    throw badArgument(`${what}.${key} is required`);
  }
  if (typeof v !== 'string') throw badArgument(`${what}.${key} must be a string`);
  if (opts.nonEmpty !== false && v.trim() === '' && !opts.optional) throw badArgument(`${what}.${key} must not be empty`);
  return v;
};

function endpointOf(o: Record<string, unknown>, what: string): string {
  const e = str(o, 'endpoint', what)!;
  try {
    const u = new URL(e);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error();
  } catch {
    throw badArgument(`${what}.endpoint must be an http(s) URL`);
  }
  return e;
}

export function parseStorage(v: unknown): StorageInput {
  const o = obj(v, 'storage');
  switch (o.type) {
    case 'Local':
      return { type: 'Local', ...(str(o, 'rootDir', 'storage', { optional: true }) ? { rootDir: o.rootDir as string } : {}) };
    case 'S3': {
      if (o.forcePathStyle !== undefined && typeof o.forcePathStyle !== 'boolean') throw badArgument('storage.forcePathStyle must be a boolean');
      return {
        type: 'S3',
        region: str(o, 'region', 'storage')!,
        endpoint: endpointOf(o, 'storage'),
        bucket: str(o, 'bucket', 'storage')!,
        ...(o.forcePathStyle !== undefined ? { forcePathStyle: o.forcePathStyle as boolean } : {}),
      };
    }
    case 'OBS':
      return {
        type: 'OBS',
        region: str(o, 'region', 'storage')!,
        endpoint: endpointOf(o, 'storage'),
        bucket: str(o, 'bucket', 'storage')!,
        projectID: str(o, 'projectID', 'storage', { optional: true }) ?? '',
      };
    default:
      throw badArgument(`unknown storage.type ${JSON.stringify(o.type)} (expected Local, S3 or OBS)`);
  }
}

export function parseCredential(v: unknown, storageType: StorageInput['type']): CredentialSpec {
  const o = obj(v, 'credential');
  if (o.type !== 'Local' && o.type !== 'S3' && o.type !== 'OBS')
    throw badArgument(`unknown credential.type ${JSON.stringify(o.type)} (expected Local, S3 or OBS)`);
  if (o.type !== storageType) throw badArgument(`credential.type ${o.type} does not match storage.type ${storageType}`);
  if (o.type === 'Local') return { type: 'Local' };
  return { type: o.type, accessKeyId: str(o, 'accessKeyId', 'credential')!, secretAccessKey: str(o, 'secretAccessKey', 'credential')! };
}

export function parseShardStore(v: unknown): { maxSize: number } | null {
  if (v === undefined || v === null) return null;
  const o = obj(v, 'shardStore');
  if (typeof o.maxSize !== 'number' || !Number.isSafeInteger(o.maxSize) || o.maxSize < 0)
    throw badArgument('shardStore.maxSize must be a non-negative integer (bytes)');
  return { maxSize: o.maxSize };
}

export function parseFeatures(v: unknown): Array<Record<string, unknown>> {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw badArgument('features must be an array');
  return v.map((f, i) => {
    const o = obj(f, `features[${i}]`);
    if (typeof o.type !== 'string' || o.type === '') throw badArgument(`features[${i}].type must be a string`);
    return o;
  });
}

/** `workingDir`: '' or a relative folder inside the storage (no `..`, no leading `/`). */
export function parseWorkingDir(v: unknown): string {
  if (v === undefined || v === null || v === '') return '';
  if (typeof v !== 'string') throw badArgument('workingDir must be a string');
  const trimmed = v.replace(/\/+$/, '');
  try {
    assertSafePrefix(trimmed);
  } catch {
    throw badArgument(`workingDir ${JSON.stringify(v)} must be a relative folder inside the storage`);
  }
  return trimmed;
}

export function parseName(v: unknown): string {
  if (typeof v !== 'string' || v.trim() === '' || Buffer.byteLength(v) > 255) throw badArgument('name must be 1 to 255 bytes');
  return v;
}

/** The credential as responses show it: the secret is never returned (ours: `""`). */
export function publicCredential(c: CredentialSpec): Record<string, unknown> {
  return c.type === 'Local' ? { type: 'Local' } : { type: c.type, accessKeyId: c.accessKeyId, secretAccessKey: '' };
}
