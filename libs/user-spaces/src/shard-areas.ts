import path from 'node:path';
import { badArgument } from '#common';
import type { UserSpaceEntity } from '#db';
import { isInside } from './local-root.js';

/** The gateway's own folder in a space: `<workingDir>/shards` (blocks and temp files). */
export const shardAreaOf = (workingDir: string): string => (workingDir ? `${workingDir}/shards` : 'shards');

/**
 * The parts of one space's key namespace that belong to the gateway: the space's own shard area and,
 * where another space of the tenant stores its shards inside this one's namespace (a Local space rooted
 * at the tenant folder sees the default space's `shards/` as a plain folder; two S3 spaces on one bucket
 * with different workingDirs), that area too. Nothing the API writes on a tenant's behalf
 * (downloadPackage, the syncer) may land there, and nothing there is imported as a tenant's file.
 */
export class ShardAreas {
  /** Key prefixes without a trailing '/'; '' means the whole space lies inside some shard area. */
  constructor(readonly prefixes: readonly string[]) {}

  /** Whether `key` (a file or folder key of the space) is, or lies inside, a shard area. */
  covers(key: string): boolean {
    const k = normalizeKey(key);
    return this.prefixes.some((p) => p === '' || k === p || k.startsWith(p + '/'));
  }

  /** Refuses (BadArgument) a key the API is about to write or import from. */
  assertOutside(key: string, what: string): void {
    if (this.covers(key)) throw badArgument(`${what} ${JSON.stringify(key)} lies inside the gateway's shard area (${this.describe()}); choose another folder`);
  }

  /**
   * The shard-area prefixes seen from folder `root`, relative to it: a file `root/<rel>` is refused
   * exactly when `<rel>` is, or lies inside, one of them. (When `root` itself is covered, every file
   * under it is: check `covers(root)` first.)
   */
  relativeTo(root: string): string[] {
    const r = normalizeKey(root);
    if (r === '') return [...this.prefixes];
    return this.prefixes.filter((p) => p.startsWith(r + '/')).map((p) => p.slice(r.length + 1));
  }

  private describe(): string {
    return this.prefixes.map((p) => (p === '' ? 'the whole space' : `${p}/`)).join(', ');
  }
}

function normalizeKey(key: string): string {
  return key.replace(/\/+/g, '/').replace(/^\/|\/$/g, '');
}

/** Same S3/OBS bucket: same endpoint origin and bucket name, so the same key namespace. */
function sameBucket(a: Record<string, unknown>, b: Record<string, unknown>): boolean {
  if (a.type === 'Local' || b.type === 'Local' || a.bucket !== b.bucket) return false;
  try {
    return new URL(String(a.endpoint)).origin === new URL(String(b.endpoint)).origin;
  } catch {
    return false;
  }
}

/**
 * The shard areas inside `target`'s namespace, from the tenant's spaces (`spaces` includes `target`
 * or not; `hostRootOf` gives each Local space's real host folder).
 */
export function shardAreasFor(
  target: UserSpaceEntity,
  spaces: UserSpaceEntity[],
  hostRootOf: (s: UserSpaceEntity) => string,
): ShardAreas {
  const prefixes = new Set<string>([shardAreaOf(target.workingDir)]);
  const others = spaces.filter((s) => s.userSpaceId !== target.userSpaceId);
  if (target.storage.type === 'Local') {
    const root = hostRootOf(target);
    for (const s of others) {
      if (s.storage.type !== 'Local') continue;
      const area = path.join(hostRootOf(s), ...shardAreaOf(s.workingDir).split('/'));
      if (isInside(area, root)) prefixes.add('');
      else if (isInside(root, area)) prefixes.add(path.relative(root, area).split(path.sep).join('/'));
    }
  } else {
    for (const s of others) if (sameBucket(target.storage, s.storage)) prefixes.add(shardAreaOf(s.workingDir));
  }
  return new ShardAreas([...prefixes]);
}
