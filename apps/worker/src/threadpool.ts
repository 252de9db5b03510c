/**
 * Imported first by the entry points, before anything touches libuv's thread pool (it reads the
 * variable once, when it starts). Every fs call of the Local driver goes through that pool, and an
 * fsync holds a thread until the disk answers: with the default 4 threads, a sync run's fsyncs (one
 * per file and folder) queue every other file operation behind them. An explicit
 * UV_THREADPOOL_SIZE wins.
 */
process.env.UV_THREADPOOL_SIZE ??= '32';
export {};
