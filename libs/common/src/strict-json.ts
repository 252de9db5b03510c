import { badArgument } from './errors.js';
import { isWellFormedUtf16 } from './validation.js';

/**
 * How deep a JSON document of this API may nest. The deepest request of the contract (a user space
 * with its features) is 4 levels; anything far deeper is an attack on the recursive code behind the
 * parser (validation, class-transformer), not a request.
 */
export const MAX_JSON_DEPTH = 32;

const fatalUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Bytes → string, refusing invalid UTF-8 (the default decoder would silently turn it into U+FFFD). */
export function decodeUtf8Strict(bytes: Uint8Array, what = 'request body'): string {
  try {
    return fatalUtf8.decode(bytes);
  } catch {
    throw badArgument(`${what} is not valid UTF-8`);
  }
}

/** A NUL or a lone surrogate (not encodable as UTF-8) in a string the API would store or query with. */
export function hasForbiddenChars(s: string): boolean {
  return s.includes('\0') || !isWellFormedUtf16(s);
}

/** Throws BadArgument when `s` holds NUL or a lone surrogate. */
export function assertCleanString(s: string, what: string): string {
  if (s.includes('\0')) throw badArgument(`${what} must not contain NUL`);
  if (!isWellFormedUtf16(s)) throw badArgument(`${what} is not valid UTF-8 (lone surrogate)`);
  return s;
}

/**
 * JSON.parse for request documents: refuses (BadArgument) text that is not JSON, that nests deeper
 * than `maxDepth` (checked by a linear scan before parsing, so nothing recursive ever sees it), and
 * any key or string value holding NUL or a lone surrogate.
 */
export function parseStrictJson(text: string, what = 'request body', maxDepth = MAX_JSON_DEPTH): unknown {
  assertDepth(text, what, maxDepth);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw badArgument(`${what} is not valid JSON`);
  }
  assertCleanValue(value, what);
  return value;
}

function assertDepth(text: string, what: string, maxDepth: number): void {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c /* \ */) i++;
      else if (c === 0x22 /* " */) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      if (++depth > maxDepth) throw badArgument(`${what} nests deeper than ${maxDepth} levels`);
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) depth--;
  }
}

/** Iterative (the depth is already bounded, but a wide document should not cost stack either). */
function assertCleanValue(root: unknown, what: string): void {
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v === 'string') {
      if (hasForbiddenChars(v)) throw badArgument(`${what} holds a string with NUL or a lone surrogate`);
    } else if (Array.isArray(v)) {
      for (const x of v) stack.push(x);
    } else if (v !== null && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        if (hasForbiddenChars(k)) throw badArgument(`${what} holds a key with NUL or a lone surrogate`);
        stack.push(x);
      }
    }
  }
}
