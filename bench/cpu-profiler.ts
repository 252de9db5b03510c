import { writeFileSync, renameSync } from 'node:fs';
import { Session } from 'node:inspector';
import path from 'node:path';

/**
 * Preloaded into the gateway (`node --import dist/bench/cpu-profiler.js ...`) for profiling passes
 * only, never for measured ones. `--cpu-prof` cannot be used: it writes on a normal exit, and Nest's
 * shutdown hooks end the process by re-raising SIGTERM; signals are no way to drive it either (Nest
 * treats SIGUSR2 as a shutdown signal, SIGUSR1 belongs to the inspector). So the bench drives this
 * over the IPC channel it opens when spawning the gateway:
 *   {cpuProfile:'start'}          starts sampling (start-up is not profiled)
 *   {cpuProfile:'stop', name}     stops and writes $BENCH_CPU_PROFILE_DIR/<name>.cpuprofile, then
 *                                 answers {cpuProfileWritten: file}
 */
const dir = process.env.BENCH_CPU_PROFILE_DIR;
if (dir && process.send) {
  const session = new Session();
  session.connect();
  const post = (method: string, params?: object) =>
    new Promise<any>((resolve, reject) => session.post(method, params ?? {}, (err, res) => (err ? reject(err) : resolve(res))));
  process.on('message', (msg: { cpuProfile?: string; name?: string }) => {
    void (async () => {
      if (msg?.cpuProfile === 'start') {
        await post('Profiler.enable');
        await post('Profiler.setSamplingInterval', { interval: 250 });
        await post('Profiler.start');
        process.send!({ cpuProfileStarted: true });
      } else if (msg?.cpuProfile === 'stop') {
        const { profile } = await post('Profiler.stop');
        const file = path.join(dir, `${msg.name ?? 'profile'}.cpuprofile`);
        writeFileSync(file + '.tmp', JSON.stringify(profile));
        renameSync(file + '.tmp', file);
        process.send!({ cpuProfileWritten: file });
      }
    })().catch((e: Error) => process.send!({ cpuProfileError: e.message }));
  });
}
