/**
 * Modification times kept as S3/OBS user metadata, in rclone's format so that rclone and the gateway
 * read the same times from the same objects: key `mtime` (`X-Amz-Meta-Mtime`), value seconds since the
 * epoch as a fixed-point decimal with trailing zeros dropped (`1354040105.123456789`, `1354040105`).
 * JavaScript dates hold milliseconds, so at most three decimals are written and finer ones truncated.
 */
export const MTIME_METADATA_KEY = 'mtime';

export function formatMtimeMetadata(t: Date): string {
  const ms = t.getTime();
  const secs = Math.floor(ms / 1000);
  const frac = ms - secs * 1000;
  if (frac === 0) return String(secs);
  return `${secs}.${String(frac).padStart(3, '0').replace(/0+$/, '')}`;
}

/** The time in an `mtime` metadata value, or undefined when there is none or it is not a decimal number. */
export function parseMtimeMetadata(value: unknown): Date | undefined {
  if (typeof value !== 'string') return undefined;
  const m = /^(-?\d{1,15})(?:\.(\d{1,18}))?$/.exec(value.trim());
  if (!m) return undefined;
  const secs = Number(m[1]);
  const ms = Number((m[2] ?? '').padEnd(3, '0').slice(0, 3));
  const d = new Date(secs * 1000 + (m[1].startsWith('-') ? -ms : ms));
  return Number.isNaN(d.getTime()) ? undefined : d;
}

/** User metadata maps arrive with keys in any case (HTTP headers); finds `mtime` among them. */
export function mtimeFromMetadata(meta: Record<string, unknown> | undefined | null): Date | undefined {
  if (!meta) return undefined;
  for (const [k, v] of Object.entries(meta)) if (k.toLowerCase() === MTIME_METADATA_KEY) return parseMtimeMetadata(v);
  return undefined;
}
