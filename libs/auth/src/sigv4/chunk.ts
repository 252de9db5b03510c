import { createHash } from 'node:crypto';

const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

/** The string to sign of one `STREAMING-AWS4-HMAC-SHA256-PAYLOAD` chunk (each chained to the previous signature). */
export function chunkStringToSign(amzDate: string, scope: string, previousSignature: string, chunkSha256Hex: string): string {
  return ['AWS4-HMAC-SHA256-PAYLOAD', amzDate, scope, previousSignature, EMPTY_SHA256, chunkSha256Hex].join('\n');
}

/** The string to sign of the trailer of `STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER`. */
export function trailerStringToSign(amzDate: string, scope: string, previousSignature: string, trailer: string): string {
  return ['AWS4-HMAC-SHA256-TRAILER', amzDate, scope, previousSignature, createHash('sha256').update(trailer).digest('hex')].join('\n');
}
