import { DomainError, operationFailed } from '#common';

const TIMEOUT_CODES = new Set(['ETIMEDOUT', 'ESOCKETTIMEDOUT', 'TimeoutError', 'RequestTimeout', 'RequestTimeTooSkewed']);

/** The backend's own words for a failure, including the parts Node tucks away (AggregateError, cause). */
export function backendReason(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const e = err as Error & { code?: string; errors?: unknown[]; cause?: unknown };
  let message = e.message;
  if (!message && Array.isArray(e.errors) && e.errors.length > 0) message = e.errors.map((x) => backendReason(x)).join('; ');
  if (!message && e.cause) message = backendReason(e.cause);
  const label = e.code ?? (e.name && e.name !== 'Error' ? e.name : '');
  return label && !message.includes(label) ? `${label}: ${message}` : message || label || 'unknown error';
}

export function isTimeout(err: unknown): boolean {
  const e = err as { name?: string; code?: string } | undefined;
  return !!e && (TIMEOUT_CODES.has(e.name ?? '') || TIMEOUT_CODES.has(e.code ?? ''));
}

/**
 * Maps a failure talking to a remote backend: domain errors pass through; a timeout is 504; anything
 * else - refused, unreachable, denied, missing bucket, a 5xx - is 502 with the backend's reason.
 */
export function remoteFailure(where: string, err: unknown): Error {
  if (err instanceof DomainError) return err;
  if (isTimeout(err)) return operationFailed(`${where} timed out: ${backendReason(err)}`, 504);
  return operationFailed(`${where} failed: ${backendReason(err)}`, 502);
}

export function isAbortError(err: unknown): boolean {
  return err instanceof Error && err.name === 'AbortError';
}
