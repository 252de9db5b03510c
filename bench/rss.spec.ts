import { afterEach, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { peakOf, RssMonitor } from './rss.js';

/**
 * A real child process that grows its RSS by ~96 MiB and gives it back on command, so the kernel's
 * high-water mark (VmHWM) and its reset behave as they do for the gateway.
 */
const CHILD = `
let big;
process.on('message', (m) => {
  if (m === 'alloc') { big = Buffer.allocUnsafeSlow(96 * 1024 * 1024).fill(1); }
  if (m === 'free') { big = undefined; globalThis.gc(); globalThis.gc(); }
  process.send('done');
});
process.send('ready');`;

const kib = (pid: number, field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
const mib = (pid: number, field: string) => kib(pid, field) / 1024;

let child: ChildProcess | undefined;
afterEach(() => {
  child?.kill();
  child = undefined;
});

function start(): Promise<ChildProcess> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, ['--expose-gc', '-e', CHILD], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    c.once('message', () => resolve(c));
  });
}
const ask = (c: ChildProcess, m: string) => new Promise<void>((resolve) => (c.once('message', () => resolve()), c.send(m)));

// Sampling every 2^30 ms is sampling never: only the kernel's mark can see the peak.
const NEVER = 2 ** 30;

describe('RssMonitor', () => {
  it('keeps a peak that happened before a nested monitor reset the kernel mark', async () => {
    child = await start();
    const pid = child.pid!;
    const outer = new RssMonitor(pid, NEVER).start();
    await ask(child, 'alloc');
    const peak = mib(pid, 'VmRSS');
    await ask(child, 'free');
    // The precondition of the case: the memory is really given back, so a reset lowers the mark.
    expect(mib(pid, 'VmRSS')).toBeLessThan(peak - 64);

    const inner = new RssMonitor(pid, NEVER).start();
    const innerReport = inner.stop();
    expect(peakOf(innerReport)).toBeLessThan(peak - 64);

    const outerReport = outer.stop();
    expect(outerReport.peakHwmMiB).not.toBeNull();
    expect(peakOf(outerReport)).toBeGreaterThanOrEqual(peak - 1);
  });

  it('a monitor started after the peak does not report it', async () => {
    child = await start();
    const pid = child.pid!;
    await ask(child, 'alloc');
    const peak = mib(pid, 'VmRSS');
    await ask(child, 'free');
    const late = new RssMonitor(pid, NEVER).start();
    expect(peakOf(late.stop())).toBeLessThan(peak - 64);
  });
});
