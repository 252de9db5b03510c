import { describe, expect, it } from '@jest/globals';
import { redactHeaders, redactQueryObject, redactUrl } from './redact.js';

describe('redactUrl', () => {
  it.each([
    ['postgres://postgres:S3cr3t@127.0.0.1:5432/db', 'postgres://postgres:***@127.0.0.1:5432/db'],
    ['redis://:pw%40x@localhost:6379/0', 'redis://:***@localhost:6379/0'],
    ['redis://localhost:6379', 'redis://localhost:6379'],
    ['postgres://user@host/db', 'postgres://user@host/db'],
    [
      '/v1/object/download?objectID=1&X-Amz-Credential=AK%2F2025&X-Amz-Signature=abcd&x-amz-security-token=tok#f',
      '/v1/object/download?objectID=1&X-Amz-Credential=***&X-Amz-Signature=***&x-amz-security-token=***#f',
    ],
    ['/v1/x?X%2DAmz%2DSignature=abc&a=%zz', '/v1/x?X%2DAmz%2DSignature=***&a=%zz'],
    ['/healthz', '/healthz'],
  ])('%s', (input, expected) => {
    expect(redactUrl(input)).toBe(expected);
  });
});

describe('redactHeaders / redactQueryObject', () => {
  it('masks credential-bearing headers in any case and keeps the rest', () => {
    expect(redactHeaders({ Authorization: 'AWS4 x', cookie: 'c', 'x-amz-security-token': 't', host: 'h' })).toEqual({
      Authorization: '***',
      cookie: '***',
      'x-amz-security-token': '***',
      host: 'h',
    });
  });
  it('masks presigned parameters', () => {
    expect(redactQueryObject({ 'X-Amz-Signature': 's', 'x-amz-credential': 'c', name: 'n' })).toEqual({
      'X-Amz-Signature': '***',
      'x-amz-credential': '***',
      name: 'n',
    });
  });
});
