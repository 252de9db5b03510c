import { DomainError, operationFailed } from '#common';

/**
 * What `userSpace/test` tells a tenant about a failed probe: one fixed category, never the backend's
 * own words (they name hosts, ports and software, which would let a tenant map what answers on the
 * gateway's network). The detail goes to the server log only.
 */
export const PROBE_FAILURE = {
  connect: 'could not connect to the storage backend',
  credentials: 'the storage backend refused the credentials',
  bucket: 'the bucket does not exist',
  timeout: 'timed out',
  other: 'the storage backend answered an error',
} as const;
export type ProbeFailureCategory = keyof typeof PROBE_FAILURE;

// Matched against the failure's text (our drivers keep the backend's error code in their messages).
const PATTERNS: Array<[ProbeFailureCategory, RegExp]> = [
  ['timeout', /timed out|ETIMEDOUT|ESOCKETTIMEDOUT|TimeoutError|RequestTimeout\b|did not answer|no data for/i],
  ['bucket', /NoSuchBucket|bucket does not exist|bucket not found/i],
  ['connect', /ECONNREFUSED|ECONNRESET|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH|EHOSTDOWN|EPIPE|EPROTO|EENDPOINTDENIED|socket hang up|certificate|self[- ]signed|TLS|SSL/i],
  ['credentials', /InvalidAccessKeyId|SignatureDoesNotMatch|AccessDenied|InvalidSecurity|InvalidToken|ExpiredToken|Forbidden|\b40[13]\b/i],
];

function textOf(err: unknown, depth = 0): string {
  if (!(err instanceof Error) || depth > 4) return String(err);
  const e = err as Error & { code?: unknown; cause?: unknown; errors?: unknown[] };
  const parts = [e.name, String(e.code ?? ''), e.message];
  if (e.cause) parts.push(textOf(e.cause, depth + 1));
  if (Array.isArray(e.errors)) parts.push(...e.errors.map((x) => textOf(x, depth + 1)));
  return parts.join(' ');
}

export function probeFailureCategory(err: unknown): ProbeFailureCategory {
  if (err instanceof DomainError && err.status === 504) return 'timeout';
  const text = textOf(err);
  return PATTERNS.find(([, re]) => re.test(text))?.[0] ?? 'other';
}

/** The tenant-facing error for a failed probe: OperationFailed, 504 on a timeout, else 502. */
export function probeFailure(category: ProbeFailureCategory): DomainError {
  return operationFailed(`storage test failed: ${PROBE_FAILURE[category]}`, category === 'timeout' ? 504 : 502);
}
