import { timingSafeEqual } from 'node:crypto';
import { unauthorized } from '#common';
import { canonicalHeaders, canonicalQueries, canonicalRequest, canonicalUris, stringToSign } from './canonical.js';
import { looksPresigned, parseAuthorizationHeader, parsePresignedQuery, type ClaimedAuth } from './parse.js';
import { payloadCandidates, type PayloadCandidate } from './payload.js';
import { parseQuery, type QueryParam } from './query.js';
import { sign, signingKey } from './signing-key.js';
import type { SecretLookup, SigV4Identity, SigV4Options, SigV4Request } from './types.js';

const DEFAULT_MAX_SKEW_MS = 15 * 60 * 1000;
const DEFAULT_MAX_PRESIGN_SECONDS = 7 * 24 * 60 * 60;
/** Same words for an unknown key and a wrong secret, so the response does not reveal which keys exist. */
const BAD_KEY_OR_SIGNATURE = 'invalid access key or signature: signature does not match';

/**
 * Verifies an AWS Signature V4 request (Authorization header or presigned URL) and returns who
 * signed it. Every failure is a 401 DomainError; messages never include the secret or the
 * expected signature.
 *
 * Everything that needs no secret (syntax, scope, clock, headers present) is checked first, so
 * malformed or stale requests never reach the key store.
 */
export async function verifySigV4(req: SigV4Request, lookup: SecretLookup, opts: SigV4Options): Promise<SigV4Identity> {
  const now = (opts.now ?? new Date()).getTime();
  const maxSkewMs = opts.maxSkewMs ?? DEFAULT_MAX_SKEW_MS;
  const params = parseQuery(req.query);
  const claimed = parseClaim(req, params, opts.maxPresignSeconds ?? DEFAULT_MAX_PRESIGN_SECONDS);

  if (claimed.service !== opts.service) {
    throw unauthorized(`credential scope service '${claimed.service}' is not '${opts.service}'`);
  }
  checkTime(claimed, now, maxSkewMs);

  const payloads = payloadCandidates(req.method, req.headers, params, claimed.presigned, req.bodySha256Hex);
  const headers = canonicalHeaders(claimed.signedHeaders, req.headers);
  const uris = canonicalUris(req.path);
  const queries = canonicalQueries(params);
  // curl 7.x signs the query exactly as it is in the URL (neither sorted nor re-encoded): those are the
  // very bytes received, so accepting them cannot change what was signed.
  if (!claimed.presigned && req.query !== '' && !queries.includes(req.query)) queries.push(req.query);

  const secret = await lookup(claimed.accessKeyId);
  if (secret === null) throw unauthorized(BAD_KEY_OR_SIGNATURE);
  const key = signingKey(secret, claimed.scopeDate, claimed.region, claimed.service);
  const scope = `${claimed.scopeDate}/${claimed.region}/${claimed.service}/aws4_request`;
  const given = Buffer.from(claimed.signature, 'hex');

  // Try each tolerated canonical form: usually exactly one; at worst 4 paths x 2 query orders x 2 payload hashes.
  let matched: PayloadCandidate | undefined;
  for (const payload of payloads) {
    for (const uri of uris) {
      for (const query of queries) {
        const canonical = canonicalRequest({
          method: req.method,
          uri,
          query,
          headers,
          signedHeaders: claimed.signedHeaders,
          payloadHash: payload.signed,
        });
        const expected = sign(key, stringToSign(claimed.amzDate, scope, canonical));
        if (expected.length === given.length && timingSafeEqual(expected, given)) matched ??= payload;
      }
    }
  }
  if (!matched) throw unauthorized(BAD_KEY_OR_SIGNATURE);

  // The signature only vouches for the claimed hash; a buffered body must actually have it.
  if (matched.mustMatchBody && req.bodySha256Hex !== undefined && req.bodySha256Hex.toLowerCase() !== matched.hash) {
    throw unauthorized('payload hash mismatch: the body does not match the signed x-amz-content-sha256');
  }
  return {
    accessKeyId: claimed.accessKeyId,
    region: claimed.region,
    presigned: claimed.presigned,
    payloadHash: matched.hash,
    payloadHashPending: matched.pending,
  };
}

function parseClaim(req: SigV4Request, params: QueryParam[], maxPresignSeconds: number): ClaimedAuth {
  const authorization = req.headers['authorization'];
  const presigned = looksPresigned(params);
  if (authorization !== undefined && presigned) {
    throw unauthorized('use either the Authorization header or a presigned URL, not both');
  }
  if (presigned) return parsePresignedQuery(params, maxPresignSeconds);
  if (authorization === undefined) {
    throw unauthorized('missing Authorization header (or X-Amz-* presigned URL parameters)');
  }
  if (typeof authorization !== 'string') throw unauthorized('malformed Authorization header');
  return parseAuthorizationHeader(authorization, req.headers['x-amz-date']);
}

/**
 * Header form: the signing time must be within ±maxSkew of now (limits replay of a captured
 * request). Presigned form: valid from signing time (less the skew, for clocks running behind
 * ours) until signing time + expiry; no skew is added to the expiry.
 */
function checkTime(claimed: ClaimedAuth, now: number, maxSkewMs: number): void {
  const signedAt = claimed.signedAt.getTime();
  const skewMinutes = Math.round(maxSkewMs / 60000);
  if (!claimed.presigned) {
    if (Math.abs(now - signedAt) > maxSkewMs) {
      throw unauthorized(
        `x-amz-date ${claimed.amzDate} is more than ${skewMinutes} min from server time ${new Date(now).toISOString()}`,
      );
    }
    return;
  }
  if (now < signedAt - maxSkewMs) {
    throw unauthorized(`presigned URL X-Amz-Date ${claimed.amzDate} is in the future`);
  }
  if (now > signedAt + claimed.expiresSeconds! * 1000) throw unauthorized('presigned URL has expired');
}
