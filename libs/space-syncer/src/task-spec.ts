import picomatch from 'picomatch';
import { badArgument } from '#common';
import { relativeFolderPath } from '#storage';

/** Task JSON of spec §7 (plus ours), as validated and normalised; stored as is in `sync_tasks.spec`. */
export type SyncTrigger = { type: 'Once' } | { type: 'Interval'; interval: number } | { type: 'At'; at: string[] };
export type SyncMode = { type: 'Full' } | { type: 'Diff'; includeSize: boolean; includeModTime: boolean };
export type SyncFilter =
  | { type: 'Size'; minSize?: number; maxSize?: number }
  | { type: 'Extension'; extensions: string[] }
  | { type: 'Path'; include: string[]; exclude: string[] };

export interface SyncWindow {
  /** `HH:MM`, local time of `timeZone`. */
  start: string;
  end: string;
  /** An IANA zone (`Europe/Paris`); UTC when absent. */
  timeZone: string;
}

export interface SyncOptions {
  noEmptyDirectories: boolean;
  /** Files transferred at once (each to every destination). */
  concurrency: number;
  /** Remove a source file once every destination holds a verified copy. */
  deleteSource: boolean;
  /** Mirror: remove destination files (passing the filters) that the source does not have. */
  deleteExtraneous: boolean;
  /** A run that would delete more destination files than this deletes none and fails. */
  maxDelete: number | null;
  /** Runs start and go on only inside this daily window. */
  window: SyncWindow | null;
  /** Bytes per second read from the source, over the whole run (rclone's --bwlimit); null: no limit. */
  bandwidthLimit: number | null;
}

export interface SyncTaskSpec {
  trigger: SyncTrigger;
  mode: SyncMode;
  filters: SyncFilter[];
  options: SyncOptions;
  srcUserSpaceID: number;
  srcPath: string;
  destUserSpaceIDs: number[];
  destPathes: string[];
}

const MAX_DESTINATIONS = 16;
const MAX_AT_TIMES = 100;
const MAX_GLOBS = 100;
const MAX_INTERVAL = 10 * 366 * 24 * 3600;
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;
const HHMM = /^([01]\d|2[0-3]):[0-5]\d$/;

/** Validates a createTask / planTask body; every mistake is a BadArgument naming the field. */
export function parseTaskSpec(body: unknown, now = new Date()): SyncTaskSpec {
  const b = object(body, 'the task');
  const destUserSpaceIDs = array(b.destUserSpaceIDs, 'destUserSpaceIDs').map((v, i) => id(v, `destUserSpaceIDs[${i}]`));
  const destPathes = array(b.destPathes, 'destPathes').map((v, i) => relativeFolderPath(v, `destPathes[${i}]`));
  if (destUserSpaceIDs.length === 0) throw badArgument('destUserSpaceIDs must name at least one user space');
  if (destUserSpaceIDs.length > MAX_DESTINATIONS) throw badArgument(`at most ${MAX_DESTINATIONS} destinations`);
  if (destUserSpaceIDs.length !== destPathes.length)
    throw badArgument(`destUserSpaceIDs (${destUserSpaceIDs.length}) and destPathes (${destPathes.length}) must have the same length`);
  const srcUserSpaceID = id(b.srcUserSpaceID, 'srcUserSpaceID');
  const srcPath = relativeFolderPath(b.srcPath ?? '', 'srcPath');
  const seen = new Set<string>();
  destUserSpaceIDs.forEach((s, i) => {
    const where = `${s}:${destPathes[i]}`;
    if (seen.has(where)) throw badArgument(`destination ${i} repeats user space ${s} path ${JSON.stringify(destPathes[i])}`);
    seen.add(where);
    if (s === srcUserSpaceID && overlaps(srcPath, destPathes[i]))
      throw badArgument(`destination ${i} overlaps the source folder in the same user space`);
  });
  return {
    trigger: parseTrigger(b.trigger, now),
    mode: parseMode(b.mode),
    filters: b.filters === undefined || b.filters === null ? [] : array(b.filters, 'filters').map((f, i) => parseFilter(f, `filters[${i}]`)),
    options: parseOptions(b.options),
    srcUserSpaceID,
    srcPath,
    destUserSpaceIDs,
    destPathes,
  };
}

function parseTrigger(v: unknown, now: Date): SyncTrigger {
  const t = object(v, 'trigger');
  switch (t.type) {
    case 'Once':
      return { type: 'Once' };
    case 'Interval': {
      const interval = t.interval;
      if (typeof interval !== 'number' || !Number.isInteger(interval) || interval <= 0 || interval > MAX_INTERVAL)
        throw badArgument(`trigger.interval must be a whole number of seconds between 1 and ${MAX_INTERVAL}`);
      return { type: 'Interval', interval };
    }
    case 'At': {
      const at = array(t.at, 'trigger.at');
      if (at.length === 0 || at.length > MAX_AT_TIMES) throw badArgument(`trigger.at must list 1 to ${MAX_AT_TIMES} times`);
      const times = at.map((s, i) => {
        if (typeof s !== 'string' || !RFC3339.test(s) || Number.isNaN(Date.parse(s)))
          throw badArgument(`trigger.at[${i}] must be an RFC 3339 time such as 2030-01-02T03:04:05Z`);
        const d = new Date(s);
        if (d.getTime() <= now.getTime()) throw badArgument(`trigger.at[${i}] (${s}) is in the past`);
        return d.toISOString();
      });
      return { type: 'At', at: [...new Set(times)].sort() };
    }
    default:
      throw badArgument(`trigger.type must be Once, Interval or At`);
  }
}

function parseMode(v: unknown): SyncMode {
  const m = object(v, 'mode');
  if (m.type === 'Full') return { type: 'Full' };
  if (m.type === 'Diff')
    return { type: 'Diff', includeSize: bool(m.includeSize, 'mode.includeSize', false), includeModTime: bool(m.includeModTime, 'mode.includeModTime', false) };
  throw badArgument('mode.type must be Full or Diff');
}

function parseFilter(v: unknown, what: string): SyncFilter {
  const f = object(v, what);
  switch (f.type) {
    case 'Size': {
      const minSize = optionalSize(f.minSize, `${what}.minSize`);
      const maxSize = optionalSize(f.maxSize, `${what}.maxSize`);
      if (minSize !== undefined && maxSize !== undefined && minSize > maxSize) throw badArgument(`${what}.minSize is larger than maxSize`);
      return { type: 'Size', ...(minSize !== undefined && { minSize }), ...(maxSize !== undefined && { maxSize }) };
    }
    case 'Extension': {
      const list = array(f.extensions, `${what}.extensions`);
      if (list.length === 0 || list.length > MAX_GLOBS) throw badArgument(`${what}.extensions must list 1 to ${MAX_GLOBS} extensions`);
      const extensions = list.map((e, i) => {
        if (typeof e !== 'string') throw badArgument(`${what}.extensions[${i}] must be a string`);
        const ext = e.replace(/^\./, '').toLowerCase();
        if (ext === '' || ext.length > 255 || /[/\\\0]/.test(ext)) throw badArgument(`${what}.extensions[${i}] ${JSON.stringify(e)} is not a file extension`);
        return ext;
      });
      return { type: 'Extension', extensions: [...new Set(extensions)] };
    }
    case 'Path': {
      const include = f.include === undefined || f.include === null ? [] : globs(f.include, `${what}.include`);
      const exclude = f.exclude === undefined || f.exclude === null ? [] : globs(f.exclude, `${what}.exclude`);
      if (include.length === 0 && exclude.length === 0) throw badArgument(`${what} needs include or exclude globs`);
      return { type: 'Path', include, exclude };
    }
    default:
      throw badArgument(`${what}.type must be Size, Extension or Path`);
  }
}

/** Options picomatch compiles every glob with (also at validation, so a bad glob fails at createTask). */
export const GLOB_OPTIONS: picomatch.PicomatchOptions = { dot: true, strictBrackets: true, strictSlashes: true };

function globs(v: unknown, what: string): string[] {
  const list = array(v, what);
  if (list.length > MAX_GLOBS) throw badArgument(`${what} lists more than ${MAX_GLOBS} globs`);
  return list.map((g, i) => {
    if (typeof g !== 'string' || g === '' || g.length > 1024 || g.includes('\0')) throw badArgument(`${what}[${i}] must be a non-empty glob`);
    try {
      picomatch.makeRe(g, GLOB_OPTIONS);
    } catch (e) {
      throw badArgument(`${what}[${i}] ${JSON.stringify(g)} is not a valid glob: ${(e as Error).message}`);
    }
    return g;
  });
}

const OPTION_KEYS = new Set(['noEmptyDirectories', 'concurrency', 'deleteSource', 'deleteExtraneous', 'maxDelete', 'window', 'bandwidthLimit']);

function parseOptions(v: unknown): SyncOptions {
  const o = v === undefined || v === null ? {} : object(v, 'options');
  for (const k of Object.keys(o)) if (!OPTION_KEYS.has(k)) throw badArgument(`options.${k} is not an option (${[...OPTION_KEYS].join(', ')})`);
  const concurrency = o.concurrency ?? 4;
  if (typeof concurrency !== 'number' || !Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64)
    throw badArgument('options.concurrency must be a whole number from 1 to 64');
  const maxDelete = o.maxDelete ?? null;
  if (maxDelete !== null && (typeof maxDelete !== 'number' || !Number.isSafeInteger(maxDelete) || maxDelete < 0))
    throw badArgument('options.maxDelete must be a whole number of files, 0 or more');
  const bandwidthLimit = o.bandwidthLimit ?? null;
  if (bandwidthLimit !== null && (typeof bandwidthLimit !== 'number' || !Number.isSafeInteger(bandwidthLimit) || bandwidthLimit < 1024))
    throw badArgument('options.bandwidthLimit must be a whole number of bytes per second, at least 1024');
  const deleteSource = bool(o.deleteSource, 'options.deleteSource', false);
  const deleteExtraneous = bool(o.deleteExtraneous, 'options.deleteExtraneous', false);
  return {
    noEmptyDirectories: bool(o.noEmptyDirectories, 'options.noEmptyDirectories', false),
    concurrency,
    deleteSource,
    deleteExtraneous,
    maxDelete: maxDelete as number | null,
    window: o.window === undefined || o.window === null ? null : parseWindow(o.window),
    bandwidthLimit: bandwidthLimit as number | null,
  };
}

function parseWindow(v: unknown): SyncWindow {
  const w = object(v, 'options.window');
  for (const k of ['start', 'end'] as const)
    if (typeof w[k] !== 'string' || !HHMM.test(w[k] as string)) throw badArgument(`options.window.${k} must be HH:MM (00:00 to 23:59)`);
  if (w.start === w.end) throw badArgument('options.window.start and end must differ');
  const timeZone = w.timeZone ?? 'UTC';
  if (typeof timeZone !== 'string') throw badArgument('options.window.timeZone must be an IANA time zone such as Europe/Paris');
  try {
    new Intl.DateTimeFormat('en-GB', { timeZone });
  } catch {
    throw badArgument(`options.window.timeZone ${JSON.stringify(timeZone)} is not a time zone`);
  }
  return { start: w.start as string, end: w.end as string, timeZone };
}

/** Whether one folder is, or lies inside, the other. */
export function overlaps(a: string, b: string): boolean {
  return a === '' || b === '' || a === b || a.startsWith(`${b}/`) || b.startsWith(`${a}/`);
}

function object(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw badArgument(`${what} must be a JSON object`);
  return v as Record<string, unknown>;
}

function array(v: unknown, what: string): unknown[] {
  if (!Array.isArray(v)) throw badArgument(`${what} must be an array`);
  return v;
}

function id(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) throw badArgument(`${what} must be a positive integer`);
  return v;
}

function bool(v: unknown, what: string, def: boolean): boolean {
  if (v === undefined || v === null) return def;
  if (typeof v !== 'boolean') throw badArgument(`${what} must be true or false`);
  return v;
}

function optionalSize(v: unknown, what: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw badArgument(`${what} must be a whole number of bytes, 0 or more`);
  return v;
}
