import { startS3rver } from '../test/support/s3rver.js';

/**
 * s3rver in a process of its own for the S3-space figures (`node dist/bench/s3rver-server.js
 * <bucket>...`): in the bench process it would share the client's event loop, and the CPU it needs
 * would be taken from whichever side of the ratio happened to be running. Prints one JSON line
 * `{"endpoint": ..., "dir": ...}` on stdout once it listens.
 *
 * Its data folder is a fresh temp folder (under $TMPDIR: the bench points that at its own temp
 * folder), removed on SIGTERM / SIGINT, or when stdin closes: the bench holds the other end of that
 * pipe, so a bench that dies without cleaning up does not leave s3rver running.
 *
 * No --openssl-legacy-provider: s3rver needs it only for listings past 1,000 keys (its continuation
 * token uses DES), and the bench lists nothing here.
 */
const s3 = await startS3rver({ buckets: process.argv.slice(2) });
let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  s3.stop()
    .catch((e: Error) => process.stderr.write(`s3rver stop: ${e.message}\n`))
    .finally(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
process.stdin.once('end', stop).once('close', stop).resume();
process.stdout.write(JSON.stringify({ endpoint: s3.endpoint, dir: s3.dir }) + '\n');
