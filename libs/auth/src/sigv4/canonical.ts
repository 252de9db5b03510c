import { createHash } from 'node:crypto';
import { unauthorized } from '#common';
import { uriDecode, uriEncode } from './encoding.js';
import type { QueryParam } from './query.js';

export const ALGORITHM = 'AWS4-HMAC-SHA256';

/**
 * Canonical URI candidates for a raw (wire) path; a signature over any of them is accepted.
 *
 * For every service but S3, AWS encodes the path twice. Clients do that in different ways:
 *  - decode each segment, RFC 3986 encode it, encode again (the spec's reading; canonical-form clients);
 *  - RFC 3986 encode the wire path as it is (Go SDK, botocore);
 *  - encodeURIComponent the wire path as it is (JS SDK; leaves !'()* alone);
 *  - encode once only (curl and other hand-rolled signers).
 * The first three coincide when the client put the path on the wire in canonical form.
 * Any two requests sharing a candidate have the same decoded segments, so tolerance never lets a
 * signature move to another resource; that is also why the single-encoded form is skipped when a
 * decoded segment holds '%': the single form of '/a%2520b' (decoding to 'a%20b') is the double
 * form of '/a%20b' (decoding to 'a b').
 *
 * Deliberately NOT done: removing empty, '.' and '..' segments (the AWS SDK normalises those for
 * non-S3 services). Our router does not normalise paths, so a signature over '/v1/x' must not
 * authorise '/v1/y/../x'; such requests simply fail to verify.
 */
export function canonicalUris(rawPath: string): string[] {
  const raw = (rawPath === '' ? '/' : rawPath).split('/');
  const decoded = raw.map((segment) => uriDecode(segment, 'path'));
  const candidates = [
    decoded.map((s) => uriEncode(uriEncode(s))).join('/'),
    raw.map(uriEncode).join('/'),
    raw.map(encodeURIComponent).join('/'),
  ];
  if (!decoded.some((s) => s.includes('%'))) candidates.push(decoded.map(uriEncode).join('/'));
  return [...new Set(candidates)];
}

/**
 * S3's canonical URI: the path encoded once (S3 alone among the services does not encode twice), as
 * the decoded segments re-encoded to RFC 3986, or the path exactly as received (the very bytes that
 * decode to the key, so accepting them cannot move a signature to another key). No dot-segment
 * removal: `a/../b` is an S3 key of its own.
 */
export function s3CanonicalUris(rawPath: string): string[] {
  const path = rawPath === '' ? '/' : rawPath;
  const canonical = path
    .split('/')
    .map((segment) => uriEncode(uriDecode(segment, 'path')))
    .join('/');
  return canonical === path ? [path] : [canonical, path];
}

/**
 * Canonical query candidates: every parameter but X-Amz-Signature, key and value RFC 3986 encoded,
 * sorted, `k=v` joined with '&'.
 *
 * The spec sorts the *encoded* pairs by byte order (botocore does); the JS SDK sorts the *decoded*
 * keys and values by UTF-16 code unit. The two orders differ for e.g. 'é' vs 'z' or '^' vs 'A'.
 * Both strings hold exactly the same pairs, so accepting either cannot change what was signed.
 */
export function canonicalQueries(params: QueryParam[]): string[] {
  const pairs = params
    .filter((p) => p.key.toLowerCase() !== 'x-amz-signature')
    .map((p) => ({ key: p.key, value: p.value, encKey: uriEncode(p.key), encValue: uriEncode(p.value) }));
  const serialize = (list: typeof pairs) => list.map((p) => `${p.encKey}=${p.encValue}`).join('&');
  const spec = serialize([...pairs].sort((a, b) => cmp(a.encKey, b.encKey) || cmp(a.encValue, b.encValue)));
  const sdk = serialize([...pairs].sort((a, b) => cmp(a.key, b.key) || cmp(a.value, b.value)));
  return spec === sdk ? [spec] : [spec, sdk];
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * The canonical headers block (`name:value\n` per signed header). Values are trimmed and runs of
 * whitespace collapsed, as every AWS SDK does; Node joins most repeated headers itself, and what
 * it leaves as an array is joined with ','. A signed header that did not arrive cannot be
 * reproduced, so it is a 401 rather than a silent empty value.
 */
export function canonicalHeaders(signedHeaders: string[], headers: Record<string, string | string[] | undefined>): string {
  return signedHeaders
    .map((name) => {
      const raw = headers[name];
      if (raw === undefined) throw unauthorized(`signed header '${name}' is missing from the request`);
      const values = Array.isArray(raw) ? raw : [raw];
      return `${name}:${values.map((v) => v.trim().replace(/\s+/g, ' ')).join(',')}\n`;
    })
    .join('');
}

export function canonicalRequest(parts: {
  method: string;
  uri: string;
  query: string;
  headers: string;
  signedHeaders: string[];
  payloadHash: string;
}): string {
  return [parts.method, parts.uri, parts.query, parts.headers, parts.signedHeaders.join(';'), parts.payloadHash].join('\n');
}

export function stringToSign(amzDate: string, scope: string, canonical: string): string {
  return [ALGORITHM, amzDate, scope, createHash('sha256').update(canonical, 'utf8').digest('hex')].join('\n');
}
