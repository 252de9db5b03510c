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
/** Monitors running now, per process: resetting VmHWM must not lose the peak an outer monitor owes. */
const active = new Map<number, Set<RssMonitor>>();

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
    // Monitors nest (a whole scenario, and each upload in it): before the kernel's high-water mark is
    // reset, every monitor already running on this process folds the mark it would otherwise lose.
    const running = active.get(this.pid) ?? new Set<RssMonitor>();
    try {
      const hwm = statusKiB(this.pid, 'VmHWM');
      for (const m of running) m.peakKiB = Math.max(m.peakKiB, hwm);
    } catch {
      /* process gone: the scenario will report that itself */
    }
    try {
      writeFileSync(`/proc/${this.pid}/clear_refs`, '5');
      this.hwmReset = true;
    } catch {
      this.hwmReset = false; // not our process or no procfs write access: sampling still works
    }
    running.add(this);
    active.set(this.pid, running);
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
    active.get(this.pid)?.delete(this);
    let hwm: number | null = null;
    if (this.hwmReset) {
      try {
        hwm = statusKiB(this.pid, 'VmHWM');
      } catch {
        hwm = null;
      }
    }
    // An inner monitor's reset may have lowered the mark since this one started; what it folded in is
    // in peakKiB, so the larger of the two is the peak over this monitor's whole span.
    if (hwm !== null) hwm = Math.max(hwm, this.peakKiB);
    const mib = (k: number) => Number(((k * 1024) / MiB).toFixed(1));
    return { startMiB: mib(this.startKiB), peakSampledMiB: mib(this.peakKiB), peakHwmMiB: hwm === null ? null : mib(hwm), samples: this.n };
  }
}

/** Current VmRSS of a process in MiB. */
export const rssMiB = (pid: number) => Number(((statusKiB(pid, 'VmRSS') * 1024) / MiB).toFixed(1));

/** The peak a report stands for: the sampled maximum or the kernel's mark, whichever is higher. */
export const peakOf = (r: RssReport) => Math.max(r.peakSampledMiB, r.peakHwmMiB ?? 0);
