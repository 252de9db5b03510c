import { describe, expect, it } from '@jest/globals';
import { formatMtimeMetadata, mtimeFromMetadata, parseMtimeMetadata } from './mod-time.js';

describe('mtime metadata (rclone format)', () => {
  it('writes seconds with the fraction trimmed of trailing zeros, as rclone does', () => {
    expect(formatMtimeMetadata(new Date('2012-11-27T18:15:05.120Z'))).toBe('1354040105.12');
    expect(formatMtimeMetadata(new Date('2012-11-27T18:15:05.000Z'))).toBe('1354040105');
    expect(formatMtimeMetadata(new Date('2012-11-27T18:15:05.007Z'))).toBe('1354040105.007');
  });

  it("reads rclone's nanosecond values to the millisecond, and refuses what is not a number", () => {
    expect(parseMtimeMetadata('1354040105.123456789')?.toISOString()).toBe('2012-11-27T18:15:05.123Z');
    expect(parseMtimeMetadata('1354040105')?.toISOString()).toBe('2012-11-27T18:15:05.000Z');
    expect(parseMtimeMetadata('1354040105.5')?.toISOString()).toBe('2012-11-27T18:15:05.500Z');
    for (const bad of ['', 'abc', '1e9', '12.', undefined, 42]) expect(parseMtimeMetadata(bad)).toBeUndefined();
    expect(mtimeFromMetadata({ Mtime: '1354040105' })?.toISOString()).toBe('2012-11-27T18:15:05.000Z');
    expect(mtimeFromMetadata({ other: '1' })).toBeUndefined();
  });

  it('round-trips every millisecond value', () => {
    for (const ms of [0, 1, 999, 1354040105123, 1700000000001]) expect(parseMtimeMetadata(formatMtimeMetadata(new Date(ms)))?.getTime()).toBe(ms);
  });
});
