/** A parsed Content-Type: lowercase `type/subtype` and lowercase parameter names. */
export interface MediaType {
  type: string;
  params: Map<string, string>;
}

const TOKEN = /^[a-z0-9!#$%&'*+.^_`|~-]+$/;

/** RFC 9110 §8.3; null when absent or malformed. */
export function parseContentType(header: string | undefined): MediaType | null {
  if (header === undefined) return null;
  const [head, ...rest] = header.split(';');
  const type = head.trim().toLowerCase();
  const slash = type.indexOf('/');
  if (slash < 0 || !TOKEN.test(type.slice(0, slash)) || !TOKEN.test(type.slice(slash + 1))) return null;
  const params = new Map<string, string>();
  for (const piece of rest) {
    if (piece.trim() === '') continue;
    const eq = piece.indexOf('=');
    if (eq < 0) return null;
    const name = piece.slice(0, eq).trim().toLowerCase();
    let value = piece.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1).replace(/\\(.)/g, '$1');
    if (!TOKEN.test(name)) return null;
    params.set(name, value);
  }
  return { type, params };
}

export const isJsonContentType = (header: string | undefined) => parseContentType(header)?.type === 'application/json';
