import type { ValueTransformer } from 'typeorm';

/** bigint columns come back from pg as strings; IDs and sizes stay below 2^53, so numbers are exact. */
export const bigintToNumber: ValueTransformer = {
  to: (v: unknown) => v,
  from: (v: string | null) => (v === null || v === undefined ? v : Number(v)),
};
