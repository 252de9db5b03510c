import { readFileSync, writeFileSync } from 'node:fs';

const MiB = 1024 * 1024;

function statusKiB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`/proc/${pid}/status has no ${field}`);
  return Number(m[1]);
}

export interface RssReport {
  /** RSS when monitoring started. */
  startMiB: number;
  /** Highest VmRSS seen by sampling every `intervalMs`. */
  peakSampledMiB: number;
  /** Kernel's high-water mark since the reset at start (exact peak; null if it could not be reset). */
  peakHwmMiB: number | null;
  samples: number;
}

/**
 * Peak resident memory of another process during a scenario, read from /proc (Linux). Two ways, so
 * each checks the other: sample VmRSS every ~50 ms, and reset the kernel's VmHWM with
 * `echo 5 > /proc/<pid>/clear_refs` at the start then read it at the end (exact, catches spikes
 * between samples). The sampler runs in the bench process, which is busy as a client: a late timer
 * only means fewer samples, never a wrong peak, thanks to VmHWM.
 */
export class RssMonitor {
  private timer?: NodeJS.Timeout;
  private peakKiB = 0;
  private startKiB = 0;
  private n = 0;
  private hwmReset = false;

  constructor(
    readonly pid: number,
    private readonly intervalMs = 50,
  ) {}

  start(): this {
    try {
      writeFileSync(`/proc/${this.pid}/clear_refs`, '5');
      this.hwmReset = true;
    } catch {
      this.hwmReset = false; // not our process or no procfs write access: sampling still works
    }
    this.startKiB = statusKiB(this.pid, 'VmRSS');
    this.peakKiB = this.startKiB;
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    this.timer.unref();
    return this;
  }

  private sample(): void {
    try {
      this.peakKiB = Math.max(this.peakKiB, statusKiB(this.pid, 'VmRSS'));
      this.n++;
    } catch {
      /* process gone: the scenario will report that itself */
    }
  }

  stop(): RssReport {
    this.sample();
    clearInterval(this.timer);
    let hwm: number | null = null;
    if (this.hwmReset) {
      try {
        hwm = statusKiB(this.pid, 'VmHWM');
      } catch {
        hwm = null;
      }
    }
    const mib = (k: number) => Number(((k * 1024) / MiB).toFixed(1));
    return { startMiB: mib(this.startKiB), peakSampledMiB: mib(this.peakKiB), peakHwmMiB: hwm === null ? null : mib(hwm), samples: this.n };
  }
}

/** Current VmRSS of a process in MiB. */
export const rssMiB = (pid: number) => Number(((statusKiB(pid, 'VmRSS') * 1024) / MiB).toFixed(1));
