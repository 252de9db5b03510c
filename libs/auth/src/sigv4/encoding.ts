import { unauthorized } from '#common';

/**
 * SigV4's URI encoding: RFC 3986, i.e. everything except the unreserved set `A-Z a-z 0-9 - . _ ~`
 * is percent-encoded as UTF-8 with upper-case hex. encodeURIComponent leaves `!'()*` alone, so
 * those are patched up here.
 */
export function uriEncode(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** Percent-decodes once. '+' stays a literal '+' (SigV4 is not form encoding). Bad escapes are the client's fault: 401. */
export function uriDecode(s: string, where: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw unauthorized(`malformed percent-encoding in ${where}`);
  }
}
