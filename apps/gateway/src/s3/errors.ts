import { DomainError, type ErrorCode } from '#common';
import { SigV4Error } from '#auth';

/** The S3 error catalogue: every code this endpoint answers, with its HTTP status (one table). */
export const S3_ERRORS = {
  AccessDenied: 403,
  AuthorizationHeaderMalformed: 400,
  BadDigest: 400,
  BadRequest: 400,
  BucketAlreadyExists: 409,
  BucketAlreadyOwnedByYou: 409,
  BucketNotEmpty: 409,
  EntityTooLarge: 400,
  EntityTooSmall: 400,
  IncompleteBody: 400,
  InternalError: 500,
  InvalidAccessKeyId: 403,
  InvalidArgument: 400,
  InvalidBucketName: 400,
  InvalidDigest: 400,
  InvalidPart: 400,
  InvalidPartOrder: 400,
  InvalidRange: 416,
  InvalidRequest: 400,
  InvalidURI: 400,
  KeyTooLongError: 400,
  MalformedXML: 400,
  MetadataTooLarge: 400,
  MethodNotAllowed: 405,
  MissingContentLength: 411,
  NoSuchBucket: 404,
  NoSuchKey: 404,
  NoSuchUpload: 404,
  NotImplemented: 501,
  NotModified: 304,
  PreconditionFailed: 412,
  QuotaExceeded: 403,
  RequestHeaderSectionTooLarge: 400,
  RequestTimeTooSkewed: 403,
  ServiceUnavailable: 503,
  SignatureDoesNotMatch: 403,
  XAmzContentSHA256Mismatch: 400,
} as const;
export type S3ErrorCode = keyof typeof S3_ERRORS;

export class S3Error extends Error {
  readonly status: number;
  constructor(
    readonly code: S3ErrorCode,
    message: string,
    /** Extra elements of the <Error> document (e.g. BucketName, Key). */
    readonly extra: Record<string, string> = {},
  ) {
    super(message);
    this.status = S3_ERRORS[code];
  }
}

export const s3Error = (code: S3ErrorCode, message: string, extra?: Record<string, string>) => new S3Error(code, message, extra);

const DOMAIN_TO_S3: Record<Exclude<ErrorCode, 'OK'>, S3ErrorCode> = {
  BadArgument: 'InvalidArgument',
  Unauthorized: 'AccessDenied',
  DataNotFound: 'NoSuchKey',
  DataExists: 'InvalidRequest',
  OperationFailed: 'InternalError',
  TaskNotFound: 'NoSuchKey',
  QuotaExceeded: 'QuotaExceeded',
};

/**
 * Any error to an S3 error: S3 errors as they are, signature failures by reason, domain errors by code
 * (with a few statuses that S3 names on their own), anything else an InternalError whose message says
 * nothing of the cause.
 */
export function toS3Error(e: unknown): S3Error {
  if (e instanceof S3Error) return e;
  if (e instanceof SigV4Error) {
    switch (e.reason) {
      case 'UnknownKey':
        return s3Error('InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.');
      case 'Mismatch':
        return s3Error('SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided.');
      case 'Skewed':
        return s3Error('RequestTimeTooSkewed', 'The difference between the request time and the current time is too large.');
      case 'Expired':
        return s3Error('AccessDenied', 'Request has expired');
      case 'Missing':
        return s3Error('AccessDenied', 'Access Denied');
      default:
        return s3Error('AccessDenied', e.message);
    }
  }
  if (e instanceof DomainError) {
    if (e.status === 416) return s3Error('InvalidRange', 'The requested range is not satisfiable');
    if (e.status === 413) return s3Error('EntityTooLarge', e.message);
    if (e.status === 503) return s3Error('ServiceUnavailable', e.message);
    if (e.code === 'Unauthorized') return s3Error('AccessDenied', e.message);
    const code = DOMAIN_TO_S3[e.code];
    return s3Error(code, code === 'InternalError' ? 'We encountered an internal error. Please try again.' : e.message);
  }
  return s3Error('InternalError', 'We encountered an internal error. Please try again.');
}
