/** Times on the wire are RFC 3339 with an offset (spec §1); UTC with milliseconds is what we send. */
export const rfc3339 = (d: Date): string => d.toISOString();
