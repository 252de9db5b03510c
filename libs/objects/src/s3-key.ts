import { badArgument, isWellFormedUtf16 } from '#common';

export const MAX_S3_KEY_BYTES = 1024;

/**
 * S3's key rule, wider than /v1's path rule: any 1–1024 bytes of UTF-8, including a leading `/`,
 * `//`, `.`/`..` segments and `dir/` markers. Only what PostgreSQL text cannot hold (NUL) is refused,
 * and a lone surrogate (not UTF-8 at all).
 */
export function assertS3Key(key: string): string {
  if (key.length === 0) throw badArgument('the key must not be empty');
  if (Buffer.byteLength(key, 'utf8') > MAX_S3_KEY_BYTES) throw badArgument(`the key is longer than ${MAX_S3_KEY_BYTES} bytes`);
  if (key.includes('\u0000')) throw badArgument('the key must not contain NUL');
  if (!isWellFormedUtf16(key)) throw badArgument('the key is not valid UTF-8');
  return key;
}
