import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

let ticksPerSecond: number | undefined;

/**
 * CPU time (user + system, all threads: main, libuv pool, GC) a process has used so far, in ms, from
 * /proc/<pid>/stat. CPU per unit of work is far steadier than wall time on a shared machine: it says
 * how much of the 2 cores each server needs, whatever else is running.
 */
export function cpuMs(pid: number): number {
  ticksPerSecond ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may contain spaces), counted from field 3 (state).
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return ((utime + stime) * 1000) / ticksPerSecond;
}

/** CPU ms a process uses while `work` runs. */
export async function cpuDuring<T>(pid: number, work: () => Promise<T>): Promise<{ value: T; cpuMs: number }> {
  const before = cpuMs(pid);
  const value = await work();
  return { value, cpuMs: cpuMs(pid) - before };
}
