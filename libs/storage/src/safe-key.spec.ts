import { describe, expect, it } from '@jest/globals';
import { assertSafeKey, assertSafePrefix, assertValidRange } from './safe-key.js';

const badArgument = expect.objectContaining({ code: 'BadArgument' });

describe('assertSafeKey', () => {
  it.each(['a', 'a/b/c.txt', 'with space/ü 日本 🚀', '.hidden/.probe-1', 'a/..b/c..', '...', 'x'.repeat(1024), 'é'.repeat(512)])(
    'accepts %j',
    (key) => {
      expect(assertSafeKey(key)).toBe(key);
    },
  );

  it.each([
    ['empty', ''],
    ['parent', '../x'],
    ['inner parent', 'a/../b'],
    ['dot segment', 'a/./b'],
    ['lone dot', '.'],
    ['absolute', '/abs'],
    ['empty segment', 'a//b'],
    ['trailing slash', 'a/'],
    ['NUL', 'a\0b'],
    ['backslash', 'a\\b'],
    ['backslash parent', '..\\x'],
    ['1025 bytes', 'x'.repeat(1025)],
    ['1026 bytes of UTF-8', 'é'.repeat(513)],
    ['lone surrogate', 'a\ud800'],
  ])('refuses a key with %s', (_label, key) => {
    expect(() => assertSafeKey(key)).toThrow(badArgument);
  });
});

describe('assertSafePrefix', () => {
  it.each(['', 'a', 'a/', 'a/b', 'a/b/', 'a/b.'])('accepts %j', (prefix) => {
    expect(assertSafePrefix(prefix)).toBe(prefix);
  });
  it.each(['/', '//', 'a//', '../', '..', '/a', 'a/./', 'a\0/', 'a\\b/'])('refuses %j', (prefix) => {
    expect(() => assertSafePrefix(prefix)).toThrow(badArgument);
  });
});

describe('assertValidRange', () => {
  it.each([{ start: 0 }, { start: 0, end: 0 }, { start: 5, end: 9 }, { start: 2 ** 40 }])('accepts %j', (range) => {
    expect(() => assertValidRange(range)).not.toThrow();
  });
  it.each([{ start: -1 }, { start: 1.5 }, { start: 5, end: 4 }, { start: 0, end: -1 }, { start: Number.NaN }])(
    'refuses %j',
    (range) => {
      expect(() => assertValidRange(range)).toThrow(badArgument);
    },
  );
});
