/**
 * Imported first: with `--with-worker` this process also runs sync tasks, whose fsyncs (one per file
 * and folder) hold libuv pool threads; a larger pool keeps them from queueing every other file
 * operation (see apps/worker/src/threadpool.ts). An explicit UV_THREADPOOL_SIZE wins.
 */
if (process.argv.includes('--with-worker')) process.env.UV_THREADPOOL_SIZE ??= '32';
export {};
