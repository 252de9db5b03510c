import { DomainError } from '#common';

/**
 * Why a signature was refused, for edges whose protocol names the reason (S3's InvalidAccessKeyId,
 * SignatureDoesNotMatch, RequestTimeTooSkewed, AccessDenied). /v1 answers every one as Unauthorized.
 */
export type SigV4FailureReason = 'Missing' | 'Malformed' | 'UnknownKey' | 'Mismatch' | 'Skewed' | 'Expired';

export class SigV4Error extends DomainError {
  constructor(
    readonly reason: SigV4FailureReason,
    message: string,
  ) {
    super('Unauthorized', message, 401);
  }
}
