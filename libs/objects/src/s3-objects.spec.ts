import { describe, expect, it } from '@jest/globals';
import { isValidS3BucketName } from './s3-objects.js';
import { assertS3Key } from './s3-key.js';

describe('isValidS3BucketName', () => {
  it.each(['abc', 'my-bucket', 'my.bucket.2024', 'a'.repeat(63), '0ab'])('accepts %s', (n) => expect(isValidS3BucketName(n)).toBe(true));
  it.each(['ab', 'a'.repeat(64), 'Upper', 'a_b', '-ab', 'ab-', 'a..b', '10.0.0.1', 'xn--abc', 'sthree-x', 'x-s3alias', 'Not_S3'])('refuses %s', (n) =>
    expect(isValidS3BucketName(n)).toBe(false),
  );
});

describe('assertS3Key', () => {
  it.each(['/lead', 'a//b', './x/../y', 'dir/', 'k'.repeat(1024), 'é'.repeat(512)])('accepts %j', (k) => expect(assertS3Key(k)).toBe(k));
  it.each(['', 'a\u0000b', 'k'.repeat(1025), 'é'.repeat(513), '\ud800'])('refuses %j', (k) => expect(() => assertS3Key(k)).toThrow());
});
