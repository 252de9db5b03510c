import { unauthorized } from '#common';
import { singleParam, type QueryParam } from './query.js';

export const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const HEX64 = /^[0-9a-fA-F]{64}$/;
/** The aws-chunked forms S3 clients send (the ECDSA ones, SigV4a, are not supported). */
export const STREAMING_PAYLOADS = new Set([
  'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
  'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER',
  'STREAMING-UNSIGNED-PAYLOAD-TRAILER',
]);

/** One payload hash the client may have signed. */
export interface PayloadCandidate {
  /** Exactly as it goes into the canonical request's last line. */
  signed: string;
  /** 'UNSIGNED-PAYLOAD' or lowercase hex, as reported in the identity. */
  hash: string;
  /** Hex hash not yet compared with the body (the body is streamed). */
  pending: boolean;
  /** The client claimed this hash explicitly, so it must equal bodySha256Hex when that is known. */
  mustMatchBody: boolean;
}

/**
 * The payload hash(es) to try, in order.
 *
 * An explicit claim (x-amz-content-sha256 header, or the hoisted query parameter of a presigned
 * URL) is used verbatim. Without one, a header-signed request used the body's hash, which we can
 * only supply if the body is buffered. A presigned URL without one was signed either over the body
 * (the spec) or over UNSIGNED-PAYLOAD (S3-style presigners), so both are tried.
 */
export function payloadCandidates(
  method: string,
  headers: Record<string, string | string[] | undefined>,
  params: QueryParam[],
  presigned: boolean,
  bodySha256Hex: string | undefined,
  s3 = false,
): PayloadCandidate[] {
  const body = bodySha256Hex?.toLowerCase();
  const header = headers['x-amz-content-sha256'];
  if (Array.isArray(header)) throw unauthorized('x-amz-content-sha256 is repeated');
  const claimed = header ?? (presigned ? singleParam(params, 'X-Amz-Content-Sha256') : undefined);

  if (claimed !== undefined) {
    if (s3 && STREAMING_PAYLOADS.has(claimed) && !presigned) {
      // The chunk framing is decoded (and each chunk's signature checked) by the S3 edge.
      return [{ signed: claimed, hash: claimed, pending: false, mustMatchBody: false }];
    }
    if (claimed.startsWith('STREAMING-')) {
      throw unauthorized(
        `chunked payload signing (${claimed.slice(0, 64)}) is not supported; send x-amz-content-sha256: UNSIGNED-PAYLOAD or the body's hex SHA-256`,
      );
    }
    if (claimed === UNSIGNED_PAYLOAD) return [{ signed: claimed, hash: claimed, pending: false, mustMatchBody: false }];
    if (!HEX64.test(claimed)) {
      throw unauthorized("x-amz-content-sha256 must be the body's hex SHA-256 or UNSIGNED-PAYLOAD");
    }
    return [{ signed: claimed, hash: claimed.toLowerCase(), pending: body === undefined, mustMatchBody: true }];
  }

  if (!presigned) {
    if (body === undefined) {
      throw unauthorized("a streamed request must send x-amz-content-sha256 (the body's hex SHA-256 or UNSIGNED-PAYLOAD)");
    }
    return [{ signed: body, hash: body, pending: false, mustMatchBody: false }];
  }

  const candidates: PayloadCandidate[] = [];
  if (body !== undefined) {
    candidates.push({ signed: body, hash: body, pending: false, mustMatchBody: false });
  } else if (['GET', 'HEAD', 'DELETE'].includes(method.toUpperCase())) {
    // Assumed empty, not seen: the caller must still check whatever body it ends up reading.
    candidates.push({ signed: EMPTY_SHA256, hash: EMPTY_SHA256, pending: true, mustMatchBody: false });
  }
  candidates.push({ signed: UNSIGNED_PAYLOAD, hash: UNSIGNED_PAYLOAD, pending: false, mustMatchBody: false });
  return candidates;
}
