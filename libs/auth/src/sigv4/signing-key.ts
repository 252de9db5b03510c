import { createHmac, randomBytes } from 'node:crypto';

const MAX_ENTRIES = 256;
const cache = new Map<string, Buffer>();
/**
 * Cache keys identify the secret by a keyed hash: the plain secret never sits in the map, and an
 * unkeyed SHA-256 of it would still be an offline-guessable fingerprint in a heap dump.
 */
const fingerprintKey = randomBytes(32);

const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data, 'utf8').digest();

/**
 * The SigV4 signing key, HMAC('AWS4'+secret, date) → region → service → 'aws4_request'.
 * Four HMACs per request add up on the hot path, and a key only changes daily, so derived keys
 * are kept in a small map evicted least-recently-used first.
 */
export function signingKey(secret: string, date: string, region: string, service: string): Buffer {
  // Scope parts are validated printable ASCII without whitespace, so '\n' cannot be forged into them.
  const id = `${createHmac('sha256', fingerprintKey).update(secret, 'utf8').digest('base64')}\n${date}\n${region}\n${service}`;
  const hit = cache.get(id);
  if (hit) {
    cache.delete(id); // re-insert: Map iteration order then doubles as recency order
    cache.set(id, hit);
    return hit;
  }
  const key = hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), service), 'aws4_request');
  cache.set(id, key);
  if (cache.size > MAX_ENTRIES) cache.delete(cache.keys().next().value!);
  return key;
}

export function sign(key: Buffer, stringToSign: string): Buffer {
  return createHmac('sha256', key).update(stringToSign, 'utf8').digest();
}
