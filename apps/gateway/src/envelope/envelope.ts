import type { ErrorCode } from '#common';

/** The response envelope of spec §1. */
export interface Envelope<T = unknown> {
  code: ErrorCode;
  message: string;
  data: T | null;
}

export const ok = <T>(data: T): Envelope<T> => ({ code: 'OK', message: '', data });
