import { compareKeys, type StorageDriver, type StorageEntry } from '#storage';
import type { SyncEntry } from './kept-times.js';
import type { ShardAreas } from '#user-spaces';

/** One path of the march: what the source and each destination hold under it. */
export interface MarchItem {
  /** Relative to the task's `srcPath` / each `destPathes[i]`. */
  path: string;
  src?: SyncEntry;
  /** Index i: destination i's entry (its `key` relative too), or undefined when it has none. */
  dests: (SyncEntry | undefined)[];
  /** A resumed run already copied this path to every destination (a done mark). */
  done: boolean;
}

/**
 * rclone's "march": the source listing, every destination listing and (for a resumed run) the done
 * marks, all in UTF-8 byte order, walked side by side, one path at a time. Only one page of each
 * listing is held, so memory stays bounded whatever the number of files.
 */
export async function* march(
  src: AsyncIterable<SyncEntry>,
  dests: AsyncIterable<SyncEntry>[],
  done?: AsyncIterable<string>,
): AsyncGenerator<MarchItem> {
  const streams = [src, ...dests].map((s) => s[Symbol.asyncIterator]());
  const heads: (StorageEntry | undefined)[] = await Promise.all(streams.map(async (it) => (await it.next()).value as StorageEntry | undefined));
  const doneIt = done?.[Symbol.asyncIterator]();
  let doneHead = doneIt ? ((await doneIt.next()).value as string | undefined) : undefined;
  try {
    for (;;) {
      let min: string | undefined;
      for (const h of heads) if (h && (min === undefined || compareKeys(h.key, min) < 0)) min = h.key;
      if (min === undefined) return;
      const at: (StorageEntry | undefined)[] = heads.map((h) => (h && h.key === min ? h : undefined));
      while (doneHead !== undefined && compareKeys(doneHead, min) < 0) doneHead = (await doneIt!.next()).value as string | undefined;
      const item: MarchItem = { path: min, src: at[0], dests: at.slice(1), done: doneHead === min };
      await Promise.all(
        at.map(async (e, i) => {
          if (!e) return;
          const next = (await streams[i].next()).value as StorageEntry | undefined;
          // A listing out of order would make the merge wrong (copy a file twice, delete a live one).
          if (next && compareKeys(next.key, e.key) <= 0) throw new Error(`listing ${i} is not in byte order at ${JSON.stringify(next.key)}`);
          heads[i] = next;
        }),
      );
      yield item;
    }
  } finally {
    await Promise.all(streams.map((it) => it.return?.(undefined)));
    await doneIt?.return?.(undefined);
  }
}

/**
 * The files under folder `root` of a space, one by one, keys made relative to `root` (and its empty
 * folders, as keys ending in '/', with `folders`); the gateway's shard areas are left out (never
 * copied from, never deleted in). `root` itself as a file is not listed: tasks sync folders.
 */
export async function* relativeEntries(
  driver: StorageDriver,
  root: string,
  areas: ShardAreas,
  opts: { folders?: boolean; pageSize?: number } = {},
): AsyncGenerator<StorageEntry> {
  if (root !== '' && areas.covers(root)) return;
  const prefix = root === '' ? '' : `${root}/`;
  for await (const page of driver.list(prefix, { pageSize: opts.pageSize ?? 1000, folders: opts.folders === true })) {
    for (const e of page) {
      // Empty folders (keys ending in '/') come only when asked for; the task's folder itself is not one.
      if (e.key === prefix) continue;
      if (areas.covers(e.key)) continue;
      yield { key: e.key.slice(prefix.length), size: e.size, modTime: e.modTime };
    }
  }
}
