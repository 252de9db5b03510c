import { setTimeout as sleep } from 'node:timers/promises';

/** A counting semaphore: `acquire` resolves with the function that gives the slot back. */
export class Semaphore {
  private free: number;
  private readonly waiters: (() => void)[] = [];

  constructor(slots: number) {
    this.free = slots;
  }

  async acquire(): Promise<() => void> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((resolve) => this.waiters.push(resolve));
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiters.shift();
      if (next) next();
      else this.free++;
    };
  }
}

/**
 * A run's bandwidth limit (rclone's --bwlimit) over all its transfers together: each chunk read from a
 * source books its share of time, and the reader waits when the bookings run ahead of the clock by
 * more than a small burst.
 */
export class Throttle {
  private next = Date.now();
  private static readonly BURST_MS = 50;

  constructor(private readonly bytesPerSecond: number) {}

  async take(bytes: number, signal?: AbortSignal): Promise<void> {
    const now = Date.now();
    this.next = Math.max(this.next, now) + (bytes * 1000) / this.bytesPerSecond;
    const wait = this.next - now - Throttle.BURST_MS;
    if (wait > 0) await sleep(wait, undefined, { signal });
  }
}
