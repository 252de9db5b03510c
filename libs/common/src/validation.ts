import { badArgument } from './errors.js';

// Control characters: C0, DEL and C1.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** Bucket and package names (spec §3): 1–255 bytes of UTF-8, no `/`, no control chars, not `.`/`..`. */
export function assertValidName(kind: string, name: unknown): string {
  if (typeof name !== 'string') throw badArgument(`${kind} name must be a string`);
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes < 1 || bytes > 255) throw badArgument(`${kind} name must be 1 to 255 bytes of UTF-8`);
  if (name.includes('/')) throw badArgument(`${kind} name must not contain '/'`);
  if (CONTROL.test(name)) throw badArgument(`${kind} name must not contain control characters`);
  if (name === '.' || name === '..') throw badArgument(`${kind} name must not be '.' or '..'`);
  if (!isWellFormedUtf16(name)) throw badArgument(`${kind} name is not valid UTF-8`);
  return name;
}

export const MAX_OBJECT_PATH_BYTES = 1024;

/** Object paths (spec §5): `/`-separated, no leading `/`, no empty/`.`/`..` segment, no NUL, ≤ 1024 bytes. */
export function assertValidObjectPath(path: unknown): string {
  if (typeof path !== 'string') throw badArgument('path must be a string');
  if (path.length === 0) throw badArgument('path must not be empty');
  if (Buffer.byteLength(path, 'utf8') > MAX_OBJECT_PATH_BYTES)
    throw badArgument(`path must be at most ${MAX_OBJECT_PATH_BYTES} bytes`);
  if (path.includes('\0')) throw badArgument('path must not contain NUL');
  if (path.startsWith('/')) throw badArgument('path must not start with /');
  if (!isWellFormedUtf16(path)) throw badArgument('path is not valid UTF-8');
  for (const seg of path.split('/')) {
    if (seg === '' || seg === '.' || seg === '..')
      throw badArgument(`path ${JSON.stringify(path)} has an empty, '.' or '..' segment`);
  }
  return path;
}

/** Lone surrogates cannot be encoded as UTF-8; Buffer would silently turn them into U+FFFD. */
export function isWellFormedUtf16(s: string): boolean {
  return !/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(s);
}
