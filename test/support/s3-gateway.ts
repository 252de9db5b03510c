import { S3Client } from '@aws-sdk/client-s3';
import { launchGatewayProcess, type GatewayInstance, type GatewayInstanceOptions } from './gateway-process.js';
import { freePort } from './ports.js';
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
 * The built gateway as its own process with its S3 listener on a port of its own (JCS_S3_PORT;
 * the default 7891 would collide between suites running at once). Waits until the S3 port accepts.
 */
export async function launchS3Gateway(opts: GatewayInstanceOptions & { s3Port?: number } = {}): Promise<S3GatewayInstance> {
  const s3Port = opts.s3Port ?? (await freePort());
  const gw = await launchGatewayProcess({ ...opts, env: { ...opts.env, JCS_S3_PORT: String(s3Port) } });
  const s3Endpoint = `http://127.0.0.1:${s3Port}`;
  await waitForListener(s3Endpoint);
  return Object.assign(gw, { s3Endpoint, s3Port });
}
