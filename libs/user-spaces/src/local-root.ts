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
