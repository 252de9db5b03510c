import { timingSafeEqual } from 'node:crypto';
import { unauthorized } from '#common';
import { canonicalHeaders, canonicalQueries, canonicalRequest, canonicalUris, s3CanonicalUris, stringToSign } from './canonical.js';
import { SigV4Error } from './failure.js';
import { looksPresigned, parseAuthorizationHeader, parsePresignedQuery, type ClaimedAuth } from './parse.js';
import { payloadCandidates, type PayloadCandidate } from './payload.js';
import { parseQuery, singleParam, type QueryParam } from './query.js';
import { sign, signingKey } from './signing-key.js';
import type { SecretLookup, SigV4HeadRequest, SigV4HeadResult, SigV4Identity, SigV4Options, SigV4Request } from './types.js';

const DEFAULT_MAX_SKEW_MS = 15 * 60 * 1000;
const DEFAULT_MAX_PRESIGN_SECONDS = 7 * 24 * 60 * 60;
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
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
  const { claimed, params } = parseAndCheck(req, opts);
  const payloads = payloadCandidates(req.method, req.headers, params, claimed.presigned, req.bodySha256Hex, opts.s3);
  const match = await prepareMatch(req, claimed, params, lookup, opts);
  return match(payloads, req.bodySha256Hex);
}

/**
 * Verifies a request from its head alone (method, path, query, headers), before any body byte is
 * read, so that an unauthenticated peer never makes the gateway read or parse a body.
 *
 * - A request without a body is checked against the empty payload.
 * - A signed `x-amz-content-sha256` (hex or UNSIGNED-PAYLOAD) is checked now; a hex hash comes back
 *   pending, for the body reader (or the upload pipeline) to compare once the body has been read.
 * - A signature over the body's own hash without the header (curl, presigners following the spec)
 *   can only be completed with the body: if the body may be buffered (a bounded JSON body), every
 *   check that needs no body (syntax, scope, clock, signed headers present, the access key exists) is
 *   done now and `completeWithBody` finishes the job; a streamed body must send the header (401).
 */
export async function verifySigV4BeforeBody(req: SigV4HeadRequest, lookup: SecretLookup, opts: SigV4Options): Promise<SigV4HeadResult> {
  if (!req.hasBody) return { identity: await verifySigV4({ ...req, bodySha256Hex: EMPTY_SHA256 }, lookup, opts) };
  const { claimed, params } = parseAndCheck(req, opts);
  const hashHeader = req.headers['x-amz-content-sha256'];
  const explicit = hashHeader !== undefined || (claimed.presigned && singleParam(params, 'X-Amz-Content-Sha256') !== undefined);
  if (explicit || !req.bufferable) {
    // payloadCandidates refuses a streamed body signed without x-amz-content-sha256.
    const payloads = payloadCandidates(req.method, req.headers, params, claimed.presigned, undefined, opts.s3);
    const match = await prepareMatch(req, claimed, params, lookup, opts);
    return { identity: match(payloads, undefined) };
  }
  const match = await prepareMatch(req, claimed, params, lookup, opts);
  return {
    completeWithBody: (bodySha256Hex) =>
      match(payloadCandidates(req.method, req.headers, params, claimed.presigned, bodySha256Hex, opts.s3), bodySha256Hex),
  };
}

/** Everything that needs no secret: syntax, scope service, clock. */
function parseAndCheck(req: Omit<SigV4Request, 'bodySha256Hex'>, opts: SigV4Options): { claimed: ClaimedAuth; params: QueryParam[] } {
  const now = (opts.now ?? new Date()).getTime();
  const maxSkewMs = opts.maxSkewMs ?? DEFAULT_MAX_SKEW_MS;
  const params = parseQuery(req.query);
  const claimed = parseClaim(req, params, opts.maxPresignSeconds ?? DEFAULT_MAX_PRESIGN_SECONDS);

  if (claimed.service !== opts.service) {
    throw unauthorized(`credential scope service '${claimed.service}' is not '${opts.service}'`);
  }
  checkTime(claimed, now, maxSkewMs);
  return { claimed, params };
}

type Match = (payloads: PayloadCandidate[], bodySha256Hex: string | undefined) => SigV4Identity;

/** Canonical forms and the signing key (the key store is consulted here); returns the comparison. */
async function prepareMatch(
  req: Omit<SigV4Request, 'bodySha256Hex'>,
  claimed: ClaimedAuth,
  params: QueryParam[],
  lookup: SecretLookup,
  opts: SigV4Options,
): Promise<Match> {
  const headers = canonicalHeaders(claimed.signedHeaders, req.headers);
  const uris = opts.s3 ? s3CanonicalUris(req.path) : canonicalUris(req.path);
  const queries = canonicalQueries(params);
  // curl 7.x signs the query exactly as it is in the URL (neither sorted nor re-encoded): those are the
  // very bytes received, so accepting them cannot change what was signed.
  if (!claimed.presigned && req.query !== '' && !queries.includes(req.query)) queries.push(req.query);

  const secret = await lookup(claimed.accessKeyId);
  if (secret === null) throw new SigV4Error('UnknownKey', BAD_KEY_OR_SIGNATURE);
  const key = signingKey(secret, claimed.scopeDate, claimed.region, claimed.service);
  const scope = `${claimed.scopeDate}/${claimed.region}/${claimed.service}/aws4_request`;
  const given = Buffer.from(claimed.signature, 'hex');

  return (payloads, bodySha256Hex) => {
    // Try each tolerated canonical form: usually exactly one; at worst 4 paths x 2 query orders x 2 payload hashes.
    let matched: PayloadCandidate | undefined;
    let matchedSignature: Buffer | undefined;
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
          if (expected.length === given.length && timingSafeEqual(expected, given) && !matched) {
            matched = payload;
            matchedSignature = expected;
          }
        }
      }
    }
    if (!matched) throw new SigV4Error('Mismatch', BAD_KEY_OR_SIGNATURE);

    // The signature only vouches for the claimed hash; a buffered body must actually have it.
    if (matched.mustMatchBody && bodySha256Hex !== undefined && bodySha256Hex.toLowerCase() !== matched.hash) {
      throw unauthorized('payload hash mismatch: the body does not match the signed x-amz-content-sha256');
    }
    return {
      accessKeyId: claimed.accessKeyId,
      region: claimed.region,
      presigned: claimed.presigned,
      payloadHash: matched.hash,
      payloadHashPending: matched.pending,
      chunkSigning:
        opts.s3 && matched.hash.startsWith('STREAMING-AWS4-HMAC-SHA256-')
          ? { signingKey: key, amzDate: claimed.amzDate, scope, seedSignature: matchedSignature!.toString('hex') }
          : undefined,
    };
  };
}

function parseClaim(req: Omit<SigV4Request, 'bodySha256Hex'>, params: QueryParam[], maxPresignSeconds: number): ClaimedAuth {
  const authorization = req.headers['authorization'];
  const presigned = looksPresigned(params);
  if (authorization !== undefined && presigned) {
    throw unauthorized('use either the Authorization header or a presigned URL, not both');
  }
  if (presigned) return parsePresignedQuery(params, maxPresignSeconds);
  if (authorization === undefined) {
    throw new SigV4Error('Missing', 'missing Authorization header (or X-Amz-* presigned URL parameters)');
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
      throw new SigV4Error(
        'Skewed',
        `x-amz-date ${claimed.amzDate} is more than ${skewMinutes} min from server time ${new Date(now).toISOString()}`,
      );
    }
    return;
  }
  if (now < signedAt - maxSkewMs) {
    throw new SigV4Error('Skewed', `presigned URL X-Amz-Date ${claimed.amzDate} is in the future`);
  }
  if (now > signedAt + claimed.expiresSeconds! * 1000) throw new SigV4Error('Expired', 'presigned URL has expired');
}
