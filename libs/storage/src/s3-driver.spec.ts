import { afterAll, beforeAll } from '@jest/globals';
import { startS3rver, type RunningS3rver } from '#test-support/s3rver';
import { runDriverContract, runRemoteFailureContract } from './driver.contract.js';
import { S3Driver } from './s3-driver.js';

const BUCKET = 's3-contract';

function s3Driver(endpoint: string, bucket: string, requestTimeoutMs = 10_000): S3Driver {
  return new S3Driver({
    endpoint,
    region: 'us-east-1',
    bucket,
    forcePathStyle: true,
    accessKeyId: 'S3RVER',
    secretAccessKey: 'S3RVER',
    requestTimeoutMs,
  });
}

let server: RunningS3rver | undefined;
beforeAll(async () => {
  server = await startS3rver({ buckets: [BUCKET] });
});
afterAll(async () => {
  await server?.stop();
});

runDriverContract('S3', async () => ({ driver: s3Driver(server!.endpoint, BUCKET), cleanup: async () => undefined }), {
  serverKeepsTruncatedPuts: true,
});

runRemoteFailureContract('S3', {
  build: ({ endpoint, bucket, requestTimeoutMs }) => s3Driver(endpoint, bucket, requestTimeoutMs),
  server: () => ({ endpoint: server!.endpoint, bucket: BUCKET }),
});
