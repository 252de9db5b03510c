import { realpath } from 'node:fs/promises';
import path from 'node:path';
import { badArgument } from '#common';

/** The tenant's own directory: the default root of its Local spaces. */
export const tenantDir = (dataDir: string, userId: number): string => path.join(dataDir, 'tenants', String(userId));

export const isInside = (root: string, p: string): boolean => {
  const rel = path.relative(root, p);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
};

/**
 * Where a Local space's root lies on the host (issue: the operator decides which host directories a
 * tenant may use). `rootDir` absent: the tenant's own directory; relative: resolved inside it (and
 * must stay inside); absolute: must lie inside the tenant's directory or one of `allowedRoots`.
 */
export function resolveLocalRoot(rootDir: unknown, opts: { dataDir: string; userId: number; allowedRoots: string[] }): string {
  const own = tenantDir(opts.dataDir, opts.userId);
  if (rootDir === undefined || rootDir === null || rootDir === '') return own;
  if (typeof rootDir !== 'string') throw badArgument('storage.rootDir must be a string');
  if (rootDir.includes('\0')) throw badArgument('storage.rootDir must not contain NUL');
  if (!path.isAbsolute(rootDir)) {
    const resolved = path.resolve(own, rootDir);
    if (!isInside(own, resolved)) throw badArgument('storage.rootDir must stay inside the tenant directory');
    return resolved;
  }
  const resolved = path.resolve(rootDir);
  if (isInside(own, resolved) || opts.allowedRoots.some((r) => isInside(r, resolved))) return resolved;
  throw badArgument(`storage.rootDir ${JSON.stringify(rootDir)} is outside the directories the operator allows`);
}

/** Whether two host folders share any file: equal, or one inside the other. */
export const overlaps = (a: string, b: string): boolean => isInside(a, b) || isInside(b, a);

/**
 * The real host path of `p`: symlinks in its existing part resolved (realpath), the part that does not
 * exist yet appended as written. Two spellings of one folder (a symlink, `..` through a link) compare equal.
 */
export async function realpathExisting(p: string): Promise<string> {
  let existing = path.resolve(p);
  const rest: string[] = [];
  for (;;) {
    try {
      return path.join(await realpath(existing), ...rest.reverse());
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const parent = path.dirname(existing);
      if ((code !== 'ENOENT' && code !== 'ENOTDIR') || parent === existing) throw err;
      rest.push(path.basename(existing));
      existing = parent;
    }
  }
}

/**
 * `resolveLocalRoot`, then the same confinement on the real path: a folder reached through a symlink
 * must really lie inside the tenant's directory or an allowed root. Returns the real host root.
 */
export async function resolveHostRoot(rootDir: unknown, opts: { dataDir: string; userId: number; allowedRoots: string[] }): Promise<string> {
  const lexical = resolveLocalRoot(rootDir, opts);
  const real = await realpathExisting(lexical).catch(() => {
    throw badArgument(`storage.rootDir ${JSON.stringify(rootDir)} cannot be resolved on the gateway host`);
  });
  const own = await realpathExisting(tenantDir(opts.dataDir, opts.userId));
  if (isInside(own, real)) return real;
  for (const r of opts.allowedRoots) if (isInside(await realpathExisting(r), real)) return real;
  throw badArgument(`storage.rootDir ${JSON.stringify(rootDir)} is outside the directories the operator allows`);
}

/** The lexical host root of a stored Local space (no validation: the row was validated when stored). */
export function storedLocalRoot(storage: Record<string, unknown>, dataDir: string, userId: number): string {
  const own = tenantDir(dataDir, userId);
  const rootDir = storage.rootDir;
  if (typeof rootDir !== 'string' || rootDir === '') return own;
  return path.resolve(own, rootDir);
}
