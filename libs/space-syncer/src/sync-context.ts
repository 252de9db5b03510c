import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { KeptTimes } from './kept-times.js';
import { badArgument } from '#common';
import type { UserSpaceEntity } from '#db';
import type { StorageDriver, StorageEntry } from '#storage';
import { SpaceDrivers, UserSpacesService, type ShardAreas } from '#user-spaces';
import { compileFilters, compileFolderFilter, type FilterSubject } from './filters.js';
import type { MarchItem } from './march.js';
import type { SyncTaskSpec } from './task-spec.js';

/** One side of a task: a space of the caller's, its driver, its shard areas and the task's folder in it. */
export interface SyncSide {
  space: UserSpaceEntity;
  driver: StorageDriver;
  areas: ShardAreas;
  root: string;
}

export interface SyncContext {
  userId: number;
  spec: SyncTaskSpec;
  src: SyncSide;
  dests: SyncSide[];
  passes: (f: FilterSubject) => boolean;
  passesFolder: (path: string) => boolean;
  /** Kept times of S3/OBS objects the syncer wrote (spares their HEADs). */
  kept: KeptTimes;
  /** Whether empty folders are synced (`noEmptyDirectories` false). */
  folders: boolean;
}

/** The key of a task-relative path in a side's folder. */
export const keyIn = (side: SyncSide, path: string) => (side.root === '' ? path : `${side.root}/${path}`);

/**
 * Resolves a task's spaces for its tenant: a space that is not the caller's is DataNotFound (exactly as
 * a missing one), and no folder of the task may lie in a shard area (BadArgument).
 */
@Injectable()
export class SyncContexts {
  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    private readonly userSpaces: UserSpacesService,
    private readonly drivers: SpaceDrivers,
  ) {}

  async resolve(userId: number, spec: SyncTaskSpec): Promise<SyncContext> {
    const side = async (spaceId: number, root: string, what: string): Promise<SyncSide> => {
      const space = await this.userSpaces.get(userId, spaceId);
      const areas = await this.userSpaces.shardAreas(userId, space);
      if (root !== '') areas.assertOutside(root, what);
      else if (areas.covers('')) throw badArgument(`${what} lies inside the gateway's shard area`);
      return { space, driver: this.drivers.driverFor(space), areas, root };
    };
    const src = await side(spec.srcUserSpaceID, spec.srcPath, 'srcPath');
    const dests: SyncSide[] = [];
    for (let i = 0; i < spec.destUserSpaceIDs.length; i++) dests.push(await side(spec.destUserSpaceIDs[i], spec.destPathes[i], `destPathes[${i}]`));
    return {
      userId,
      spec,
      src,
      dests,
      passes: compileFilters(spec.filters),
      passesFolder: compileFolderFilter(spec.filters),
      folders: !spec.options.noEmptyDirectories,
      kept: new KeptTimes(this.ds),
    };
  }
}

/** What to do with one path of the march. */
export type Decision =
  | {
      kind: 'file';
      path: string;
      size: number;
      /** The source's modification time, kept on every copy. */
      modTime: Date;
      copyTo: number[];
      skipAt: number[];
      /** Destinations this file may never be written to (their shard area). */
      refusedAt: number[];
      /** A resumed run copied it already. */
      done: boolean;
    }
  | { kind: 'extraneous'; path: string; at: { dest: number; entry: StorageEntry }[] }
  /** An empty source folder (path ends in '/') to make at the destinations that lack it. */
  | { kind: 'folder'; path: string; makeAt: number[] };

/** Two kept times are the same at the precision every driver holds: the millisecond. */
const sameTime = (a: Date, b: Date) => Math.floor(a.getTime()) === Math.floor(b.getTime());

/**
 * The planner's verdict on one path (rclone's check): Full copies whatever passes the filters; Diff
 * skips a destination whose file exists and matches on the chosen attributes. Times a listing does not
 * carry (S3/OBS keep them in metadata) are read with a HEAD, only when sizes did not already decide.
 * Returns null for a path the task does not concern (filtered out, or nothing to delete).
 */
export async function decide(ctx: SyncContext, item: MarchItem): Promise<Decision | null> {
  const { spec, src, dests } = ctx;
  if (item.path.endsWith('/')) {
    // Folders are never deleted nor counted; an empty source folder is made where it is missing.
    if (!item.src || !ctx.passesFolder(item.path.slice(0, -1))) return null;
    const makeAt = item.dests.flatMap((e, i) => (e || dests[i].areas.covers(keyIn(dests[i], item.path)) ? [] : [i]));
    return makeAt.length ? { kind: 'folder', path: item.path, makeAt } : null;
  }
  if (!item.src) {
    const at: { dest: number; entry: StorageEntry }[] = [];
    item.dests.forEach((e, i) => {
      if (e && ctx.passes({ path: item.path, size: e.size }) && !dests[i].areas.covers(keyIn(dests[i], item.path))) at.push({ dest: i, entry: e });
    });
    return at.length ? { kind: 'extraneous', path: item.path, at } : null;
  }
  const size = item.src.size;
  if (!ctx.passes({ path: item.path, size })) return null;
  let srcTime: Date | undefined = src.driver.listsModTime ? item.src.modTime : item.src.keptModTime;
  const sourceTime = async () => (srcTime ??= (await src.driver.head(keyIn(src, item.path)))?.modTime ?? item.src!.modTime);
  const decision: Decision & { kind: 'file' } = { kind: 'file', path: item.path, size, modTime: item.src.modTime, copyTo: [], skipAt: [], refusedAt: [], done: item.done };
  if (item.done) return decision;
  for (let i = 0; i < dests.length; i++) {
    const d = item.dests[i];
    const key = keyIn(dests[i], item.path);
    if (dests[i].areas.covers(key)) decision.refusedAt.push(i);
    else if (spec.mode.type === 'Full' || !d) decision.copyTo.push(i);
    else if (spec.mode.includeSize && d.size !== size) decision.copyTo.push(i);
    else if (spec.mode.includeModTime) {
      const destTime = dests[i].driver.listsModTime ? d.modTime : (d.keptModTime ?? (await dests[i].driver.head(key))?.modTime);
      if (destTime && sameTime(destTime, await sourceTime())) decision.skipAt.push(i);
      else decision.copyTo.push(i);
    } else decision.skipAt.push(i);
  }
  if (decision.copyTo.length) decision.modTime = await sourceTime();
  return decision;
}
