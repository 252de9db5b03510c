import { badArgument } from '#common';
import type { ByteRange } from './driver.js';

export const MAX_STORAGE_KEY_BYTES = 1024;

/**
 * The one key check every driver applies to every key: relative, '/'-separated, no empty, '.' or '..'
 * segment, no NUL, no backslash, no leading '/', at most 1024 bytes of UTF-8. Returns the key.
 */
export function assertSafeKey(key: string): string {
  if (typeof key !== 'string') throw badArgument('storage key must be a string');
  if (key.length === 0) throw badArgument('storage key must not be empty');
  if (Buffer.byteLength(key, 'utf8') > MAX_STORAGE_KEY_BYTES)
    throw badArgument(`storage key must be at most ${MAX_STORAGE_KEY_BYTES} bytes`);
  if (key.includes('\0')) throw badArgument(`storage key ${JSON.stringify(key)} contains NUL`);
  if (key.includes('\\')) throw badArgument(`storage key ${JSON.stringify(key)} contains a backslash`);
  if (key.startsWith('/')) throw badArgument(`storage key ${JSON.stringify(key)} must be relative`);
  if (/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(key))
    throw badArgument(`storage key ${JSON.stringify(key)} is not valid UTF-8`);
  for (const segment of key.split('/')) {
    if (segment === '' || segment === '.' || segment === '..')
      throw badArgument(`storage key ${JSON.stringify(key)} has an empty, '.' or '..' segment`);
  }
  return key;
}

/** A listing prefix or probe directory: '' or a safe key, optionally followed by one '/'. */
export function assertSafePrefix(prefix: string): string {
  if (typeof prefix !== 'string') throw badArgument('storage prefix must be a string');
  if (prefix === '') return prefix;
  assertSafeKey(prefix.endsWith('/') ? prefix.slice(0, -1) : prefix);
  return prefix;
}

/**
 * A folder path a caller gives relative to a space's storage root (an import's `path`, a sync task's
 * `srcPath`): '' (or '.', '/') for the whole space, else a safe key with any trailing '/' dropped;
 * anything that could leave the root is BadArgument naming the field.
 */
export function relativeFolderPath(v: unknown, what: string): string {
  if (typeof v !== 'string') throw badArgument(`${what} must be a string`);
  const trimmed = v.replace(/^\.?\/*$/, '').replace(/\/+$/, '');
  if (trimmed === '') return '';
  try {
    assertSafePrefix(trimmed);
  } catch {
    throw badArgument(`${what} ${JSON.stringify(v)} must be a relative path inside the storage (no '..', no leading '/')`);
  }
  return trimmed;
}

export function assertValidRange(range: ByteRange | undefined): void {
  if (range === undefined) return;
  const { start, end } = range;
  if (!Number.isSafeInteger(start) || start < 0) throw badArgument(`range start ${start} must be an integer >= 0`);
  if (end !== undefined && (!Number.isSafeInteger(end) || end < start))
    throw badArgument(`range end ${end} must be an integer >= start ${start}`);
}

export function assertValidPageSize(pageSize: number): number {
  if (!Number.isSafeInteger(pageSize) || pageSize < 1) throw badArgument(`page size ${pageSize} must be an integer >= 1`);
  return pageSize;
}

export function assertValidSize(size: number | undefined): void {
  if (size !== undefined && (!Number.isSafeInteger(size) || size < 0))
    throw badArgument(`declared size ${size} must be an integer >= 0`);
}
