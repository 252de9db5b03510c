import path from 'node:path';
import type { EntityManager } from 'typeorm';
import { badArgument } from '#common';
import { isInside, overlaps, realpathExisting, storedLocalRoot, tenantDir } from './local-root.js';

/** One fixed advisory-lock key: every Local-space create takes it, so the overlap check cannot race. */
const LOCAL_ROOT_LOCK = 7_310_001;

/**
 * One message for every refusal, whether the folder overlaps another tenant's space or the gateway's
 * own data: a tenant learns no more than that the folder is not available to it.
 */
const TAKEN = 'storage.rootDir overlaps a folder that is not available to this tenant (another tenant or the gateway uses it)';

/**
 * No two tenants' Local spaces share a file: a new root may not equal, lie inside or contain another
 * tenant's root, nor overlap JCS_DATA_DIR outside the tenant's own `tenants/<userId>/` (the gateway's
 * `master.key`, other tenants' default spaces). Run inside the transaction that stores the space: it
 * takes a transaction-scoped advisory lock, so concurrent creates are checked one after the other and
 * the row stored by the first is seen by the second.
 */
export async function claimLocalRoot(em: EntityManager, opts: { userId: number; hostRoot: string; dataDir: string }): Promise<void> {
  const { userId, hostRoot, dataDir } = opts;
  const dataReal = await realpathExisting(dataDir);
  const ownReal = await realpathExisting(tenantDir(dataDir, userId));
  // The data directory under any spelling (JCS_LOCAL_ROOTS may include it, or a symlink to it).
  if (overlaps(hostRoot, dataReal) && !isInside(ownReal, hostRoot)) throw badArgument(TAKEN);

  await em.query('SELECT pg_advisory_xact_lock($1)', [LOCAL_ROOT_LOCK]);
  await fillMissingHostRoots(em, dataDir);
  const prefix = hostRoot.endsWith(path.sep) ? hostRoot : hostRoot + path.sep;
  // Ancestors (and the folder itself) by equality; descendants by a range over the C-collated column:
  // every string that starts with "p/" sorts in ["p/", "p0"), '0' being the character after '/'.
  const [conflict] = await em.query(
    `SELECT 1 FROM user_spaces
      WHERE user_id <> $1 AND host_root IS NOT NULL
        AND (host_root = ANY($2::text[]) OR (host_root >= $3 AND host_root < $4))
      LIMIT 1`,
    [userId, [hostRoot, ...ancestors(hostRoot)], prefix, prefix.slice(0, -1) + String.fromCharCode(path.sep.charCodeAt(0) + 1)],
  );
  if (conflict) throw badArgument(TAKEN);
}

function ancestors(p: string): string[] {
  const out: string[] = [];
  for (let cur = path.dirname(p); ; cur = path.dirname(cur)) {
    out.push(cur);
    if (path.dirname(cur) === cur) return out;
  }
}

/**
 * Local rows without `host_root` (the default spaces made with each tenant, rows older than the
 * column) get it now, under the lock: the check above then covers them too.
 */
async function fillMissingHostRoots(em: EntityManager, dataDir: string): Promise<void> {
  const rows: Array<{ user_space_id: string; user_id: string; storage: Record<string, unknown> }> = await em.query(
    `SELECT user_space_id, user_id, storage FROM user_spaces WHERE host_root IS NULL AND storage->>'type' = 'Local'`,
  );
  for (const r of rows) {
    const lexical = storedLocalRoot(r.storage, dataDir, Number(r.user_id));
    // A folder that cannot be resolved now (permissions) is compared as written: still claimed.
    const real = await realpathExisting(lexical).catch(() => lexical);
    await em.query('UPDATE user_spaces SET host_root = $2 WHERE user_space_id = $1', [r.user_space_id, real]);
  }
}
