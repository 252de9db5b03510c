import { describe, expect, it } from '@jest/globals';
import { assertValidName, assertValidObjectPath } from './validation.js';
import { DomainError } from './errors.js';

describe('name validation', () => {
  it.each(['a', 'bucket-1', 'ünïcödé', 'x'.repeat(255), 'a b', '...'])('accepts %j', (n) => {
    expect(assertValidName('bucket', n)).toBe(n);
  });
  it.each(['', '.', '..', 'a/b', 'a\u0000b', 'tab\there', 'é'.repeat(128), 'x'.repeat(256), 5, null, '\ud800'])(
    'rejects %j with BadArgument',
    (n) => {
      expect(() => assertValidName('bucket', n)).toThrow(DomainError);
      try {
        assertValidName('bucket', n);
      } catch (e) {
        expect((e as DomainError).code).toBe('BadArgument');
      }
    },
  );
});

describe('object path validation', () => {
  it.each(['a', 'a/b/c.txt', 'a b/%_', 'x'.repeat(1024), '.hidden/file', 'a/..b'])('accepts %j', (p) => {
    expect(assertValidObjectPath(p)).toBe(p);
  });
  it.each(['', '/a', 'a//b', 'a/', './a', 'a/../b', 'a/.', 'a\u0000', 'x'.repeat(1025), 'é'.repeat(513), 7])(
    'rejects %j',
    (p) => {
      expect(() => assertValidObjectPath(p)).toThrow(expect.objectContaining({ code: 'BadArgument' }));
    },
  );
});
