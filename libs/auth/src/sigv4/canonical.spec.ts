import { describe, expect, it } from '@jest/globals';
import { getSigningKey } from '@aws-sdk/signature-v4';
import { Sha256 } from '@aws-crypto/sha256-js';
import { DomainError } from '#common';
import { canonicalHeaders, canonicalQueries, canonicalUris, s3CanonicalUris } from './canonical.js';
import { parseQuery } from './query.js';
import { signingKey } from './signing-key.js';

describe('canonicalUris', () => {
  it.each([
    ['', ['/']],
    ['/', ['/']],
    ['/v1/bucket/create', ['/v1/bucket/create']],
    // double (spec, SDKs) and single (curl)
    ['/v1/a%20b', ['/v1/a%2520b', '/v1/a%20b']],
    // a decoded '%' rules out the single form, which would equal the double form of '/v1/a%20b'
    ['/v1/a%2520b', ['/v1/a%252520b']],
    // an encoded '/' stays inside its segment
    ['/v1/a%2Fb', ['/v1/a%252Fb', '/v1/a%2Fb']],
    // raw parentheses: spec double, strict re-encoding (Go), JS SDK re-encoding, single
    ['/v1/(x)', ['/v1/%2528x%2529', '/v1/%28x%29', '/v1/(x)']],
    // lower-case hex: the spec form normalises it, the SDKs re-encode it as sent
    ['/v1/%c3%bc', ['/v1/%25C3%25BC', '/v1/%25c3%25bc', '/v1/%C3%BC']],
    // no dot-segment removal (fail closed: the router does not normalise either)
    ['/v1/x/../y', ['/v1/x/../y']],
  ])('%j → %j', (path, expected) => {
    expect(canonicalUris(path)).toEqual(expected);
  });

  it('rejects broken percent-encoding with a 401', () => {
    expect(() => canonicalUris('/v1/%zz')).toThrow(DomainError);
  });
});

describe('canonicalQueries', () => {
  const q = (raw: string) => canonicalQueries(parseQuery(raw));

  it('re-encodes to RFC 3986, keeps + literal, gives empty values an =, and drops X-Amz-Signature', () => {
    expect(q("b=x%20y&a=1+1&c&d=it's!&X-Amz-Signature=abc&e=%7e")).toEqual(['a=1%2B1&b=x%20y&c=&d=it%27s%21&e=~']);
  });

  it('sorts by key, then value, for repeated keys', () => {
    expect(q('k=b&k=a&j=z')).toEqual(['j=z&k=a&k=b']);
  });

  it('offers both the spec (encoded bytes) and the JS SDK (decoded) order when they differ', () => {
    // encoded: '%C3%A9' < 'z' and '%5E' < 'A'; decoded: 'z' < 'é' and 'A' < '^'
    expect(q('t=z&t=%C3%A9&%5E=1&A=2')).toEqual(['%5E=1&A=2&t=%C3%A9&t=z', 'A=2&%5E=1&t=z&t=%C3%A9']);
  });

  it('skips empty pieces and is empty for an empty query', () => {
    expect(q('')).toEqual(['']);
    expect(q('a=1&&b=2&')).toEqual(['a=1&b=2']);
  });
});

describe('canonicalHeaders', () => {
  it('trims, collapses whitespace runs and joins array values with commas', () => {
    const headers = { host: 'h:1', 'x-a': '  a   b \t c ', 'x-b': ['1', ' 2 '] };
    expect(canonicalHeaders(['host', 'x-a', 'x-b'], headers)).toBe('host:h:1\nx-a:a b c\nx-b:1,2\n');
  });

  it('401s on a signed header that is absent', () => {
    expect(() => canonicalHeaders(['host', 'x-gone'], { host: 'h' })).toThrow(/x-gone/);
  });
});

describe('signingKey', () => {
  const sdkKey = async (secret: string, date: string, region: string, service: string) =>
    Buffer.from(await getSigningKey(Sha256, { accessKeyId: 'AK', secretAccessKey: secret }, date, region, service));

  it('matches the AWS SDK derivation, cached or not', async () => {
    const args = ['wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', '20120215', 'us-east-1', 'iam'] as const;
    const expected = await sdkKey(...args);
    expect(signingKey(...args).equals(expected)).toBe(true);
    expect(signingKey(...args).equals(expected)).toBe(true);
  });

  it('keys the cache by secret, date, region and service', async () => {
    const base = ['s1', '20250304', 'r', 'jcs'] as const;
    signingKey(...base);
    const variants: Array<[string, string, string, string]> = [
      ['s2', '20250304', 'r', 'jcs'],
      ['s1', '20250305', 'r', 'jcs'],
      ['s1', '20250304', 'r2', 'jcs'],
      ['s1', '20250304', 'r', 'other'],
    ];
    for (const [secret, date, region, service] of variants) {
      expect(signingKey(secret, date, region, service).equals(await sdkKey(secret, date, region, service))).toBe(true);
    }
  });

  it('stays correct after the cache has evicted entries', async () => {
    for (let i = 0; i < 300; i++) signingKey(`secret-${i}`, '20250304', 'r', 'jcs');
    for (const i of [0, 150, 299]) {
      expect(signingKey(`secret-${i}`, '20250304', 'r', 'jcs').equals(await sdkKey(`secret-${i}`, '20250304', 'r', 'jcs'))).toBe(true);
    }
  });
});

describe('s3CanonicalUris', () => {
  it.each([
    ['/', ['/']],
    ['/bucket/a%20b', ['/bucket/a%20b']],
    // encoded once, no dot-segment removal, '%' in a key stays a key character
    ['/bucket/x/../y', ['/bucket/x/../y']],
    ['/bucket/100%25', ['/bucket/100%25']],
    // a raw character the SDK would have encoded: both the canonical form and the bytes received
    ['/bucket/(x)', ['/bucket/%28x%29', '/bucket/(x)']],
  ])('%j → %j', (path, expected) => expect(s3CanonicalUris(path)).toEqual(expected));
});
