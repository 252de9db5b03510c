import { afterAll, beforeAll } from '@jest/globals';
import { startS3rver, type RunningS3rver } from '#test-support/s3rver';
import { runDriverContract, runRemoteFailureContract } from './driver.contract.js';
import { ObsDriver } from './obs-driver.js';

const BUCKET = 'obs-contract';

function obsDriver(endpoint: string, bucket: string, requestTimeoutMs = 10_000): ObsDriver {
  return new ObsDriver({
    endpoint,
    region: 'us-east-1',
    bucket,
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

runDriverContract('OBS', async () => ({ driver: obsDriver(server!.endpoint, BUCKET), cleanup: async () => undefined }), {
  serverKeepsTruncatedPuts: true,
});

runRemoteFailureContract('OBS', {
  build: ({ endpoint, bucket, requestTimeoutMs }) => obsDriver(endpoint, bucket, requestTimeoutMs),
  server: () => ({ endpoint: server!.endpoint, bucket: BUCKET }),
});
