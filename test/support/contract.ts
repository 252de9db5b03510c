import { readdirSync } from 'node:fs';
import path from 'node:path';

/** HTTP statuses of each contract code (spec §1). */
export const STATUS_OF_CODE: Record<string, number[]> = {
  OK: [200],
  BadArgument: [400],
  Unauthorized: [401, 403],
  DataNotFound: [404],
  TaskNotFound: [404],
  DataExists: [409],
  QuotaExceeded: [413, 507],
  OperationFailed: [500, 502, 503],
};

/** Every file below a directory (paths relative to it); none when it does not exist. */
export function filesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.push(path.relative(dir, p));
    }
  };
  try {
    walk(dir);
  } catch {
    /* absent */
  }
  return out;
}
