import { randomBytes } from 'node:crypto';

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

/** Access key ids look like AWS ones (20 upper-case alphanumerics) but start with `JCS`. */
export function newAccessKeyId(): string {
  const bytes = randomBytes(17);
  let id = 'JCS';
  for (const b of bytes) id += ALNUM[b % ALNUM.length];
  return id;
}

/** 40 characters from 30 random bytes, base64url: safe in shells, URLs and curl's --user. */
export function newSecretKey(): string {
  return randomBytes(30).toString('base64url');
}
