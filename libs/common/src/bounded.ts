/**
 * Runs `work` over the items produced by `source` with at most `limit` in flight; the first failure
 * stops taking new items and is rethrown once the running ones have settled.
 */
export async function forEachBounded<T>(source: AsyncIterable<T> | Iterable<T>, limit: number, work: (item: T) => Promise<void>): Promise<void> {
  const running = new Set<Promise<void>>();
  let failure: unknown;
  for await (const item of source as AsyncIterable<T>) {
    if (failure !== undefined) break;
    const p: Promise<void> = work(item).then(
      () => void running.delete(p),
      (e) => {
        running.delete(p);
        failure ??= e;
      },
    );
    running.add(p);
    if (running.size >= limit) await Promise.race(running);
  }
  await Promise.all(running);
  if (failure !== undefined) throw failure;
}
