import { unauthorized } from '#common';
import { ALGORITHM } from './canonical.js';
import { singleParam, type QueryParam } from './query.js';

/** What a request claims about its signature, before anything is checked against a secret. */
export interface ClaimedAuth {
  presigned: boolean;
  accessKeyId: string;
  /** Credential scope parts. */
  scopeDate: string;
  region: string;
  service: string;
  /** Lowercase names in canonical (sorted) order. */
  signedHeaders: string[];
  /** Lowercase hex, 64 chars. */
  signature: string;
  /** The raw 'YYYYMMDDTHHMMSSZ' value that went into the string to sign, and its instant. */
  amzDate: string;
  signedAt: Date;
  /** Presigned only: validity in seconds from signedAt. */
  expiresSeconds?: number;
}

const PRESIGN_MARKERS = ['x-amz-signature', 'x-amz-algorithm', 'x-amz-credential'];

/** True when the query carries presigned-URL auth parameters (in any case). */
export function looksPresigned(params: QueryParam[]): boolean {
  return params.some((p) => PRESIGN_MARKERS.includes(p.key.toLowerCase()));
}

/** Parses `AWS4-HMAC-SHA256 Credential=AK/date/region/service/aws4_request, SignedHeaders=a;b, Signature=hex`. */
export function parseAuthorizationHeader(header: string, xAmzDate: string | string[] | undefined): ClaimedAuth {
  const m = /^(\S+)\s+(.+)$/s.exec(header.trim());
  if (!m) throw unauthorized('malformed Authorization header');
  assertAlgorithm(m[1]);
  const fields = new Map<string, string>();
  for (const part of m[2].split(',')) {
    const eq = part.indexOf('=');
    const name = eq < 0 ? '' : part.slice(0, eq).trim();
    if (!['Credential', 'SignedHeaders', 'Signature'].includes(name) || fields.has(name)) {
      throw unauthorized('malformed Authorization header: expected Credential=..., SignedHeaders=..., Signature=...');
    }
    fields.set(name, part.slice(eq + 1).trim());
  }
  const credential = fields.get('Credential');
  const signedHeaders = fields.get('SignedHeaders');
  const signature = fields.get('Signature');
  if (credential === undefined || signedHeaders === undefined || signature === undefined) {
    throw unauthorized('malformed Authorization header: Credential, SignedHeaders and Signature are all required');
  }
  // No `Date` header fallback: x-amz-date is what every SigV4 client sends, and it must be signed.
  if (typeof xAmzDate !== 'string') throw unauthorized('missing x-amz-date header');
  const claimed = assemble(false, credential, signedHeaders, signature, xAmzDate, 'x-amz-date');
  if (!claimed.signedHeaders.includes('x-amz-date')) throw unauthorized('SignedHeaders must include x-amz-date');
  return claimed;
}

/** Parses the X-Amz-* query parameters of a presigned URL. */
export function parsePresignedQuery(params: QueryParam[], maxPresignSeconds: number): ClaimedAuth {
  const required = (name: string) => {
    const v = singleParam(params, name);
    if (v === undefined) throw unauthorized(`presigned URL lacks ${name}`);
    return v;
  };
  assertAlgorithm(required('X-Amz-Algorithm'));
  const claimed = assemble(
    true,
    required('X-Amz-Credential'),
    required('X-Amz-SignedHeaders'),
    required('X-Amz-Signature'),
    required('X-Amz-Date'),
    'X-Amz-Date',
  );
  claimed.expiresSeconds = parseExpires(params, maxPresignSeconds);
  return claimed;
}

function assertAlgorithm(algorithm: string): void {
  if (algorithm !== ALGORITHM) throw unauthorized(`unsupported signing algorithm: only ${ALGORITHM} is accepted`);
}

function assemble(
  presigned: boolean,
  credential: string,
  signedHeadersList: string,
  signature: string,
  amzDate: string,
  dateName: string,
): ClaimedAuth {
  const scope = credential.split('/');
  const [accessKeyId, scopeDate, region, service, terminator] = scope;
  if (
    scope.length !== 5 ||
    !/^[\x21-\x7e]{1,128}$/.test(accessKeyId) ||
    !/^\d{8}$/.test(scopeDate) ||
    !/^[\x21-\x7e]{1,64}$/.test(region) ||
    !/^[\x21-\x7e]{1,64}$/.test(service) ||
    terminator !== 'aws4_request'
  ) {
    throw unauthorized('malformed credential scope: expected <access key>/<yyyymmdd>/<region>/<service>/aws4_request');
  }
  if (!/^[0-9a-fA-F]{64}$/.test(signature)) throw unauthorized('malformed signature: expected 64 hex digits');
  const signedAt = parseAmzDate(amzDate, dateName);
  if (amzDate.slice(0, 8) !== scopeDate) {
    throw unauthorized(`credential scope date ${scopeDate} does not match the date of ${dateName} (${amzDate})`);
  }
  const signedHeaders = parseSignedHeaders(signedHeadersList);
  // Without host a signature could be replayed against any virtual host behind the same keys.
  if (!signedHeaders.includes('host')) throw unauthorized('SignedHeaders must include host');
  return {
    presigned,
    accessKeyId,
    scopeDate,
    region,
    service,
    signedHeaders,
    signature: signature.toLowerCase(),
    amzDate,
    signedAt,
  };
}

/** 'a;b;c' → sorted lowercase names; header names are HTTP tokens, repeats are malformed. */
function parseSignedHeaders(list: string): string[] {
  const names = list.split(';').map((n) => n.toLowerCase());
  if (names.some((n) => !/^[a-z0-9!#$%&'*+.^_`|~-]+$/.test(n)) || new Set(names).size !== names.length) {
    throw unauthorized('malformed SignedHeaders: expected lowercase header names separated by ";"');
  }
  return names.sort();
}

/** 'YYYYMMDDTHHMMSSZ' (ISO 8601 basic, UTC) → Date; rejects impossible dates such as month 13. */
function parseAmzDate(value: string, name: string): Date {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  const [y, mo, d, h, mi, s] = (m ?? []).slice(1).map(Number);
  const date = new Date(Date.UTC(y, mo - 1, d, h, mi, s));
  if (
    !m ||
    date.getUTCFullYear() !== y ||
    date.getUTCMonth() !== mo - 1 ||
    date.getUTCDate() !== d ||
    date.getUTCHours() !== h ||
    date.getUTCMinutes() !== mi ||
    date.getUTCSeconds() !== s
  ) {
    throw unauthorized(`malformed ${name}: expected YYYYMMDDTHHMMSSZ`);
  }
  return date;
}

/**
 * X-Amz-Expires, or the non-standard alias X-Expires some of our clients send. Both are inside
 * the canonical query, so they are signed; if both are present they must agree.
 */
function parseExpires(params: QueryParam[], maxPresignSeconds: number): number {
  const standard = singleParam(params, 'X-Amz-Expires');
  const alias = singleParam(params, 'X-Expires');
  if (standard !== undefined && alias !== undefined && standard !== alias) {
    throw unauthorized('presigned URL carries conflicting X-Amz-Expires and X-Expires');
  }
  const raw = standard ?? alias;
  if (raw === undefined) throw unauthorized('presigned URL lacks X-Amz-Expires');
  const seconds = /^\d{1,10}$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > maxPresignSeconds) {
    throw unauthorized(`X-Amz-Expires must be an integer number of seconds from 1 to ${maxPresignSeconds}`);
  }
  return seconds;
}
