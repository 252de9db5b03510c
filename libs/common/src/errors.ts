/**
 * Domain errors carry a contract error code (spec §1). They are thrown anywhere in the domain and
 * mapped to the HTTP envelope in exactly one place (the gateway's envelope filter).
 */
export const ErrorCode = {
  OK: 'OK',
  BadArgument: 'BadArgument',
  Unauthorized: 'Unauthorized',
  DataNotFound: 'DataNotFound',
  DataExists: 'DataExists',
  OperationFailed: 'OperationFailed',
  TaskNotFound: 'TaskNotFound',
  QuotaExceeded: 'QuotaExceeded',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export class DomainError extends Error {
  constructor(
    readonly code: Exclude<ErrorCode, 'OK'>,
    message: string,
    /** HTTP status; defaults to the one the contract assigns to the code. */
    readonly status: number = defaultStatus(code),
  ) {
    super(message);
    this.name = code;
  }
}

export function defaultStatus(code: ErrorCode): number {
  switch (code) {
    case 'OK':
      return 200;
    case 'BadArgument':
      return 400;
    case 'Unauthorized':
      return 401;
    case 'DataNotFound':
    case 'TaskNotFound':
      return 404;
    case 'DataExists':
      return 409;
    case 'QuotaExceeded':
      return 413;
    case 'OperationFailed':
      return 500;
  }
}

export const badArgument = (message: string) => new DomainError('BadArgument', message);
export const notFound = (message: string) => new DomainError('DataNotFound', message);
export const dataExists = (message: string) => new DomainError('DataExists', message);
/** A user space (or every candidate) has no room: 507 Insufficient Storage, nothing stored. */
export const quotaExceeded = (message: string, status = 507) => new DomainError('QuotaExceeded', message, status);
export const operationFailed = (message: string, status = 500) => new DomainError('OperationFailed', message, status);
export const unauthorized = (message: string, status = 401) => new DomainError('Unauthorized', message, status);
