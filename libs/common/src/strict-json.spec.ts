import { describe, expect, it } from '@jest/globals';
import { decodeUtf8Strict, parseStrictJson } from './strict-json.js';

describe('parseStrictJson', () => {
  it('parses ordinary documents', () => {
    expect(parseStrictJson('{"a":[1,{"b":"c \\\\ \\" ["}]}')).toEqual({ a: [1, { b: 'c \\ " [' }] });
  });
  it('refuses deep nesting before parsing', () => {
    expect(() => parseStrictJson('['.repeat(5000) + ']'.repeat(5000))).toThrow(/nests deeper/);
    expect(() => parseStrictJson('['.repeat(33) + ']'.repeat(33))).toThrow(/nests deeper/);
    expect(parseStrictJson('['.repeat(32) + ']'.repeat(32))).toBeDefined();
  });
  it('does not count brackets inside strings', () => {
    expect(parseStrictJson(JSON.stringify({ s: '['.repeat(100) }))).toEqual({ s: '['.repeat(100) });
  });
  it('refuses NUL and lone surrogates in keys and values', () => {
    expect(() => parseStrictJson('{"a":"x\\u0000"}')).toThrow(/NUL or a lone surrogate/);
    expect(() => parseStrictJson('{"a\\u0000":1}')).toThrow(/key/);
    expect(() => parseStrictJson('["\\ud800"]')).toThrow(/lone surrogate/);
    expect(() => parseStrictJson('["\\udc00x"]')).toThrow(/lone surrogate/);
    expect(parseStrictJson('["\\ud83d\\ude00"]')).toEqual(['😀']);
  });
  it('refuses text that is not JSON', () => {
    expect(() => parseStrictJson('{"a":')).toThrow(/not valid JSON/);
  });
});

describe('decodeUtf8Strict', () => {
  it('refuses invalid UTF-8', () => {
    expect(() => decodeUtf8Strict(Buffer.from([0x7b, 0xff, 0x7d]))).toThrow(/not valid UTF-8/);
    expect(decodeUtf8Strict(Buffer.from('{"é":1}'))).toBe('{"é":1}');
  });
});
