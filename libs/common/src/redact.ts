/**
 * One way to keep secrets out of logs and messages: passwords in URLs, presigned-URL signatures and
 * credentials, and the headers that carry credentials. Everything that logs a URL or headers goes
 * through these.
 */
export const MASK = '***';

/** Query parameters that authenticate whoever holds the URL (SigV4 presigned URLs). */
const SECRET_QUERY_PARAMS = new Set(['x-amz-signature', 'x-amz-credential', 'x-amz-security-token']);
/** Headers that carry credentials. */
const SECRET_HEADERS = new Set(['authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'x-amz-security-token']);

const lenientDecode = (s: string) => {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
};

/** `a=1&X-Amz-Signature=abc` → `a=1&X-Amz-Signature=***` (raw form kept otherwise). */
export function redactQueryString(query: string): string {
  return query
    .split('&')
    .map((piece) => {
      const eq = piece.indexOf('=');
      const key = eq < 0 ? piece : piece.slice(0, eq);
      return SECRET_QUERY_PARAMS.has(lenientDecode(key).toLowerCase()) ? `${key}=${MASK}` : piece;
    })
    .join('&');
}

/**
 * A URL fit for a log line: the password of `scheme://user:password@host` and presigned-URL
 * credentials masked. Works on absolute URLs (service URLs) and on request targets (`/path?query`).
 */
export function redactUrl(url: string): string {
  let out = url;
  const userinfo = /^([a-z][a-z0-9+.-]*:\/\/[^/@?#]*?:)([^/@?#]*)@/i.exec(out);
  if (userinfo && userinfo[2] !== '') out = userinfo[1] + MASK + out.slice(userinfo[0].length - 1);
  const q = out.indexOf('?');
  if (q < 0) return out;
  const hash = out.indexOf('#', q);
  const query = hash < 0 ? out.slice(q + 1) : out.slice(q + 1, hash);
  return out.slice(0, q + 1) + redactQueryString(query) + (hash < 0 ? '' : out.slice(hash));
}

/** Headers with credential-bearing values masked (names kept, so a log still shows they were sent). */
export function redactHeaders<T extends Record<string, unknown>>(headers: T): T {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(headers)) out[name] = SECRET_HEADERS.has(name.toLowerCase()) ? MASK : value;
  return out as T;
}

/** A parsed query object with presigned-URL credentials masked. */
export function redactQueryObject<T extends Record<string, unknown>>(query: T): T {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(query)) out[name] = SECRET_QUERY_PARAMS.has(name.toLowerCase()) ? MASK : value;
  return out as T;
}
