import { describe, expect, it } from '@jest/globals';
import type { UserSpaceEntity } from '#db';
import { ShardAreas, shardAreasFor } from './shard-areas.js';

const space = (id: number, storage: Record<string, unknown>, workingDir = '') => ({ userSpaceId: id, storage, workingDir }) as unknown as UserSpaceEntity;

describe('ShardAreas', () => {
  it('covers a prefix, everything inside it, and nothing that merely starts with the same letters', () => {
    const areas = new ShardAreas(['shards', 'jcs/shards']);
    for (const k of ['shards', 'shards/', 'shards/blocks/ab/x', '/shards//tmp', 'jcs/shards/tmp/1']) expect([k, areas.covers(k)]).toEqual([k, true]);
    for (const k of ['shardsX', 'a/shards', 'jcs/shardsy', 'jcs', '']) expect([k, areas.covers(k)]).toEqual([k, false]);
  });

  it('relativeTo gives the prefixes a file under a folder must avoid', () => {
    const areas = new ShardAreas(['shards', 'jcs/shards', 'jcs/inner/shards']);
    expect(areas.relativeTo('')).toEqual(['shards', 'jcs/shards', 'jcs/inner/shards']);
    expect(areas.relativeTo('jcs')).toEqual(['shards', 'inner/shards']);
    expect(areas.relativeTo('other')).toEqual([]);
  });

  it('for a Local space: its own area, areas of spaces inside it, and everything when it lies in an area', () => {
    const roots = new Map([
      [1, '/d/tenants/1'],
      [2, '/d/tenants/1'],
      [3, '/d/tenants/1/sub'],
      [4, '/d/tenants/1/shards/blocks'],
      [5, '/elsewhere'],
    ]);
    const spaces = [
      space(1, { type: 'Local' }),
      space(2, { type: 'Local' }, 'w'),
      space(3, { type: 'Local', rootDir: 'sub' }, 'wd'),
      space(4, { type: 'Local', rootDir: 'shards/blocks' }),
      space(5, { type: 'Local', rootDir: '/elsewhere' }),
      space(6, { type: 'S3', endpoint: 'http://x', bucket: 'b' }),
    ];
    const hostRootOf = (s: UserSpaceEntity) => roots.get(s.userSpaceId)!;
    expect([...shardAreasFor(spaces[1], spaces, hostRootOf).prefixes].sort()).toEqual(['shards', 'shards/blocks/shards', 'sub/wd/shards', 'w/shards']);
    expect(shardAreasFor(spaces[3], spaces, hostRootOf).prefixes).toContain('');
    expect(shardAreasFor(spaces[4], spaces, hostRootOf).prefixes).toEqual(['shards']);
  });

  it('for S3/OBS: the areas of the tenant’s other spaces on the same bucket of the same endpoint', () => {
    const spaces = [
      space(1, { type: 'S3', endpoint: 'http://h:9000', bucket: 'b' }),
      space(2, { type: 'S3', endpoint: 'http://h:9000/', bucket: 'b' }, 'jcs'),
      space(3, { type: 'OBS', endpoint: 'http://h:9000', bucket: 'other' }, 'x'),
      space(4, { type: 'S3', endpoint: 'http://h2:9000', bucket: 'b' }, 'y'),
    ];
    expect([...shardAreasFor(spaces[0], spaces, () => '').prefixes].sort()).toEqual(['jcs/shards', 'shards']);
  });
});
