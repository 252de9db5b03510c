import { S3Client } from '@aws-sdk/client-s3';

/** s3rver accepts only this key pair (as access key and as secret). */
export const S3RVER_KEY = 'S3RVER';
/** lib-storage settings of the gateway's S3 driver (libs/storage/src/s3-driver.ts). */
export const PART_SIZE = 8 * 1024 * 1024;
export const QUEUE_SIZE = 2;

/**
 * `@aws-sdk/client-s3` configured as the gateway's S3 driver configures its own (path style,
 * checksums only when required: s3rver stores aws-chunked framing verbatim), so the baselines send
 * s3rver the same requests the gateway does.
 */
export function s3Client(endpoint: string): S3Client {
  return new S3Client({
    region: 'us-east-1',
    endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: S3RVER_KEY, secretAccessKey: S3RVER_KEY },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 3,
    requestHandler: { connectionTimeout: 30_000, socketTimeout: 30_000 },
  });
}
