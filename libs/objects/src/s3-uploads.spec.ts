import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { S3UploadError, copySourceSpan } from './s3-uploads.service.js';

const s3CodeOf = (f: () => unknown): string | undefined => {
  try {
    f();
  } catch (e) {
    return (e as S3UploadError).s3Code;
  }
  return undefined;
};

describe('x-amz-copy-source-range', () => {
  it('accepts bytes=first-last inside the object', () => {
    expect(copySourceSpan('bytes=0-0', 1)).toEqual({ start: 0, end: 0 });
    expect(copySourceSpan('bytes=5-9', 10)).toEqual({ start: 5, end: 9 });
  });

  it.each(['bytes=5-', 'bytes=-5', 'bytes=1-2,3-4', 'items=0-1', 'bytes=3-2', ''])('refuses %j with InvalidArgument', (r) => {
    expect(s3CodeOf(() => copySourceSpan(r, 100))).toBe('InvalidArgument');
  });

  it('answers InvalidRange past the end', () => {
    expect(s3CodeOf(() => copySourceSpan('bytes=0-10', 10))).toBe('InvalidRange');
  });

  it('any valid span round-trips (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 40 }), fc.nat(), fc.nat(), (size, x, y) => {
        const start = x % size;
        const end = start + (y % (size - start));
        expect(copySourceSpan(`bytes=${start}-${end}`, size)).toEqual({ start, end });
      }),
      { seed: 11, numRuns: 200 },
    );
  });
});
