import picomatch from 'picomatch';
import { GLOB_OPTIONS, type SyncFilter } from './task-spec.js';

/** A file as the filters see it: its path relative to the task's `srcPath`, and its size. */
export interface FilterSubject {
  path: string;
  size: number;
}

/**
 * The task's filters as one predicate: a file is synced only if every filter passes (spec §7). Path
 * globs are picomatch's (bash-like: `*` stays within a folder, `**` crosses folders, dotfiles match),
 * matched against the path relative to `srcPath`; an `include` list means "only these", `exclude`
 * removes from what is left.
 */
export function compileFilters(filters: SyncFilter[]): (f: FilterSubject) => boolean {
  const tests = filters.map((f): ((s: FilterSubject) => boolean) => {
    switch (f.type) {
      case 'Size':
        return (s) => (f.minSize === undefined || s.size >= f.minSize) && (f.maxSize === undefined || s.size <= f.maxSize);
      case 'Extension': {
        const wanted = new Set(f.extensions);
        return (s) => {
          const name = s.path.slice(s.path.lastIndexOf('/') + 1);
          const dot = name.lastIndexOf('.');
          return dot > 0 && wanted.has(name.slice(dot + 1).toLowerCase());
        };
      }
      case 'Path': {
        const include = f.include.length ? picomatch(f.include, GLOB_OPTIONS) : () => true;
        const exclude = f.exclude.length ? picomatch(f.exclude, GLOB_OPTIONS) : () => false;
        return (s) => include(s.path) && !exclude(s.path);
      }
    }
  });
  return (s) => tests.every((t) => t(s));
}

/**
 * Which empty folders are synced: sizes and extensions say nothing about a folder, so only Path
 * filters apply: with `include` globs (an explicit choice of files) no empty folder is made; a folder
 * matched by an `exclude` glob (as `path` or `path/`) is left out.
 */
export function compileFolderFilter(filters: SyncFilter[]): (path: string) => boolean {
  const paths = filters.filter((f): f is SyncFilter & { type: 'Path' } => f.type === 'Path');
  if (paths.some((f) => f.include.length > 0)) return () => false;
  const excludes = paths.filter((f) => f.exclude.length).map((f) => picomatch(f.exclude, GLOB_OPTIONS));
  return (path) => !excludes.some((x) => x(path) || x(`${path}/`));
}
