import { unauthorized } from '#common';
import { uriDecode } from './encoding.js';

/** One query parameter, percent-decoded once. Order and repeats are kept as received. */
export interface QueryParam {
  key: string;
  value: string;
}

/** Splits a raw query string ('a=1&b=x%20y'); a key without '=' has the empty value, as in SigV4. */
export function parseQuery(raw: string): QueryParam[] {
  const params: QueryParam[] = [];
  for (const piece of raw.split('&')) {
    if (piece === '') continue; // 'a=1&&b=2' or a trailing '&': nothing was signed there
    const eq = piece.indexOf('=');
    const key = uriDecode(eq < 0 ? piece : piece.slice(0, eq), 'query');
    const value = eq < 0 ? '' : uriDecode(piece.slice(eq + 1), 'query');
    params.push({ key, value });
  }
  return params;
}

/**
 * The single value of a parameter, matched case-insensitively: presigners disagree on case
 * (the JS SDK hoists `x-amz-content-sha256` in whatever case the header had). Every such
 * parameter except the signature is inside the canonical query anyway, so case tolerance cannot
 * smuggle anything in; a repeat is refused because it would make the meaning ambiguous.
 */
export function singleParam(params: QueryParam[], name: string): string | undefined {
  const lower = name.toLowerCase();
  const found = params.filter((p) => p.key.toLowerCase() === lower);
  if (found.length > 1) throw unauthorized(`query parameter ${name} is repeated`);
  return found[0]?.value;
}

/**
 * The same decoding as the verifier's, for everything else that reads the query (routing, the input
 * gate), so the values a handler sees are exactly the values that were signed. `undefined` when the
 * query is not valid percent-encoded UTF-8.
 */
export function tryParseQuery(raw: string): QueryParam[] | undefined {
  try {
    return parseQuery(raw);
  } catch {
    return undefined;
  }
}
