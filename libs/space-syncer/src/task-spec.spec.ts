import { describe, expect, it } from '@jest/globals';
import { compileFilters, compileFolderFilter } from './filters.js';
import { parseTaskSpec } from './task-spec.js';
import { insideWindow } from './window.js';

const base = { trigger: { type: 'Once' }, mode: { type: 'Full' }, srcUserSpaceID: 1, srcPath: 'in', destUserSpaceIDs: [2], destPathes: ['out'] };

describe('task spec', () => {
  it('normalises paths, extensions, At times and option defaults', () => {
    const now = new Date('2030-01-01T00:00:00Z');
    const spec = parseTaskSpec(
      {
        ...base,
        srcPath: 'in/',
        trigger: { type: 'At', at: ['2030-01-02T00:00:00+01:00', '2030-01-01T12:00:00Z', '2030-01-01T12:00:00Z'] },
        filters: [{ type: 'Extension', extensions: ['.MP4', 'mp4', 'Mkv'] }],
      },
      now,
    );
    expect(spec.srcPath).toBe('in');
    expect(spec.trigger).toEqual({ type: 'At', at: ['2030-01-01T12:00:00.000Z', '2030-01-01T23:00:00.000Z'] });
    expect(spec.filters).toEqual([{ type: 'Extension', extensions: ['mp4', 'mkv'] }]);
    expect(spec.options).toEqual({ noEmptyDirectories: false, concurrency: 4, deleteSource: false, deleteExtraneous: false, maxDelete: null, window: null, bandwidthLimit: null });
  });

  it.each([
    ['mismatched lengths', { destUserSpaceIDs: [2, 3], destPathes: ['a'] }],
    ['non-positive interval', { trigger: { type: 'Interval', interval: 0 } }],
    ['past At time', { trigger: { type: 'At', at: ['2000-01-01T00:00:00Z'] } }],
    ['unknown trigger', { trigger: { type: 'Sometimes' } }],
    ['unknown filter', { filters: [{ type: 'Owner' }] }],
    ['unbalanced glob', { filters: [{ type: 'Path', include: ['a[b'] }] }],
    ['escaping path', { destPathes: ['../x'] }],
    ['same space overlap', { destUserSpaceIDs: [1], destPathes: ['in/sub'] }],
    ['repeated destination', { destUserSpaceIDs: [2, 2], destPathes: ['o', 'o/'] }],
  ])('refuses %s with BadArgument', (_label, change) => {
    expect(() => parseTaskSpec({ ...base, ...change })).toThrow(expect.objectContaining({ code: 'BadArgument' }));
  });
});

describe('filters', () => {
  const f = (filters: any[], path: string, size = 5) => compileFilters(parseTaskSpec({ ...base, filters }).filters)({ path, size });
  it('every filter must pass', () => {
    const combo = [{ type: 'Size', minSize: 5 }, { type: 'Extension', extensions: ['mp4'] }, { type: 'Path', exclude: ['tmp/**'] }];
    expect(f(combo, 'a/b.MP4', 5)).toBe(true);
    expect(f(combo, 'a/b.MP4', 4)).toBe(false);
    expect(f(combo, 'a/b.mkv', 9)).toBe(false);
    expect(f(combo, 'tmp/x/b.mp4', 9)).toBe(false);
    expect(f([{ type: 'Size', maxSize: 5 }], 'x', 5)).toBe(true); // inclusive
    expect(f([{ type: 'Extension', extensions: ['mp4'] }], 'mp4')).toBe(false); // no extension at all
    expect(f([{ type: 'Path', include: ['*.txt'] }], 'a/b.txt')).toBe(false); // * stays in its folder
    expect(f([{ type: 'Path', include: ['**/*.txt'] }], 'a/b.txt')).toBe(true);
  });
  it('empty folders follow only Path filters: include globs make none, excludes drop matching ones', () => {
    const folder = (filters: any[], path: string) => compileFolderFilter(parseTaskSpec({ ...base, filters }).filters)(path);
    expect(folder([{ type: 'Size', minSize: 100 }], 'e')).toBe(true);
    expect(folder([{ type: 'Path', include: ['**/*.mp4'] }], 'e')).toBe(false);
    expect(folder([{ type: 'Path', exclude: ['cache/**'] }], 'cache/sub')).toBe(false);
    expect(folder([{ type: 'Path', exclude: ['cache'] }], 'cache')).toBe(false);
  });
});

describe('time window', () => {
  const at = (iso: string) => new Date(iso);
  it('is [start, end) in its time zone, spanning midnight when end < start', () => {
    const day = { start: '09:00', end: '17:00', timeZone: 'UTC' };
    expect(insideWindow(day, at('2030-01-01T09:00:00Z'))).toBe(true);
    expect(insideWindow(day, at('2030-01-01T16:59:00Z'))).toBe(true);
    expect(insideWindow(day, at('2030-01-01T17:00:00Z'))).toBe(false);
    const night = { start: '22:00', end: '06:00', timeZone: 'Asia/Shanghai' }; // UTC+8
    expect(insideWindow(night, at('2030-01-01T14:30:00Z'))).toBe(true); // 22:30 there
    expect(insideWindow(night, at('2030-01-01T21:59:00Z'))).toBe(true); // 05:59 there
    expect(insideWindow(night, at('2030-01-01T22:00:00Z'))).toBe(false); // 06:00 there
    expect(insideWindow(null, at('2030-01-01T22:00:00Z'))).toBe(true);
  });
});
