import type { SyncWindow } from './task-spec.js';

/** Minutes since local midnight in `timeZone` at `at`. */
function localMinutes(at: Date, timeZone: string): number {
  const parts = new Intl.DateTimeFormat('en-GB', { timeZone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).formatToParts(at);
  const hour = Number(parts.find((p) => p.type === 'hour')?.value ?? 0);
  const minute = Number(parts.find((p) => p.type === 'minute')?.value ?? 0);
  return hour * 60 + minute;
}

const toMinutes = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

/**
 * Whether `at` lies inside the daily window [start, end) of the window's time zone. A window whose end
 * is before its start spans midnight (22:00–06:00).
 */
export function insideWindow(window: SyncWindow | null, at = new Date()): boolean {
  if (!window) return true;
  const now = localMinutes(at, window.timeZone);
  const start = toMinutes(window.start);
  const end = toMinutes(window.end);
  return start < end ? now >= start && now < end : now >= start || now < end;
}
