import { S3Client } from '@aws-sdk/client-s3';
import type { TestGateway, Tenant } from './gateway.js';

/** A current AWS SDK S3 client (default checksums on) for a tenant of a test gateway, path style. */
export function s3ClientFor(gw: Pick<TestGateway, 's3Url'>, t: Pick<Tenant, 'accessKey' | 'secretKey'>, opts: { region?: string; systemClockOffset?: number } = {}): S3Client {
  return new S3Client({
    endpoint: gw.s3Url,
    region: opts.region ?? 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: t.accessKey, secretAccessKey: t.secretKey },
    maxAttempts: 1,
    systemClockOffset: opts.systemClockOffset,
  });
}
