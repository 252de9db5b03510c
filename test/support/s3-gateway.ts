import { S3Client } from '@aws-sdk/client-s3';
import { launchGatewayProcess, type GatewayInstance, type GatewayInstanceOptions } from './gateway-process.js';
import { waitForListener } from './s3-tools.js';

export interface S3Keys {
  accessKey: string;
  secretKey: string;
}

/** The AWS SDK v3 as a current client uses it (its default checksums: aws-chunked bodies with CRC trailers). */
export function s3Client(endpoint: string, keys: S3Keys, opts: { maxAttempts?: number } = {}): S3Client {
  return new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: keys.accessKey, secretAccessKey: keys.secretKey },
    maxAttempts: opts.maxAttempts ?? 1,
  });
}

export interface S3GatewayInstance extends GatewayInstance {
  s3Endpoint: string;
  s3Port: number;
}

/**
 * The built gateway as its own process with its S3 listener on a free port of its own (the harness
 * sets JCS_S3_PORT). Waits until the S3 port accepts connections.
 */
export async function launchS3Gateway(opts: GatewayInstanceOptions = {}): Promise<S3GatewayInstance> {
  const gw = await launchGatewayProcess(opts);
  if (!gw.s3Url) throw new Error('the gateway runs without its S3 listener (JCS_S3_PORT=0)');
  await waitForListener(gw.s3Url);
  return Object.assign(gw, { s3Endpoint: gw.s3Url, s3Port: Number(new URL(gw.s3Url).port) });
}
