import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import type { Tenant } from './gateway.js';
import { uploadFiles, uploadForm } from './objects.js';

/**
 * Byte (UTF-8) order, which is the listing order of spec §5 — not JavaScript's UTF-16 `<`. UTF-8 byte
 * order is code point order; UTF-16 code units differ from it only where surrogates (D800–DFFF) meet
 * E000–FFFF, so those are remapped before comparing (cheaper than encoding both strings).
 */
export function byteCompare(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return codePointRank(x) - codePointRank(y);
  }
  return a.length - b.length;
}
const codePointRank = (u: number) => (u >= 0xe000 ? u - 0x800 : u >= 0xd800 ? u + 0x2000 : u);
export const byteSorted = (paths: Iterable<string>) => [...paths].sort(byteCompare);

/** `Comp` hash of an open multipart upload: SHA-256 over the parts' raw SHA-256 digests, in index order. */
export function compositeHashOf(partsInIndexOrder: Buffer[]): string {
  const h = createHash('sha256');
  for (const p of partsInIndexOrder) h.update(createHash('sha256').update(p).digest());
  return 'Comp' + h.digest('hex').toUpperCase();
}

/** Uploads files in requests of `batch` files; returns path → objectID. */
export async function uploadInBatches(t: Tenant, packageID: number, files: Array<[string, Buffer]>, batch = 100): Promise<Map<string, number>> {
  const ids = new Map<string, number>();
  for (let i = 0; i < files.length; i += batch) {
    const res = await uploadFiles(t, packageID, files.slice(i, i + batch));
    if (res.body.code !== 'OK') throw new Error(`upload failed: ${JSON.stringify(res.body)}`);
    for (const o of res.body.data.uploadeds) ids.set(o.path, o.objectID);
  }
  return ids;
}

/** `POST /v1/object/uploadPart` with info first, then the file part. */
export function uploadPart(t: Tenant, objectID: number, index: number, data: Buffer) {
  return uploadForm(t, '/v1/object/uploadPart', [
    { name: 'info', value: JSON.stringify({ objectID, index }) },
    { name: 'file', filename: `part${index}`, data },
  ]);
}

/** One listing entry: an object path or a common prefix. */
export type Entry = { kind: 'object'; key: string } | { kind: 'prefix'; key: string };

export interface ListParams {
  path: string;
  noRecursive: boolean;
}

/**
 * The reference model of a listByPath prefix listing over a set of paths: every entry in byte order,
 * common prefixes (noRecursive) standing where their first path stands.
 */
export function modelEntries(paths: Iterable<string>, q: ListParams): Entry[] {
  const out: Entry[] = [];
  for (const p of byteSorted([...paths].filter((p) => p.startsWith(q.path)))) {
    const slash = q.noRecursive ? p.indexOf('/', q.path.length) : -1;
    if (slash < 0) out.push({ kind: 'object', key: p });
    else {
      const cp = p.slice(0, slash + 1);
      const last = out[out.length - 1];
      if (!(last?.kind === 'prefix' && last.key === cp)) out.push({ kind: 'prefix', key: cp });
    }
  }
  return out;
}

/** Entries strictly after the last entry a previous page returned (keyset semantics). */
export function modelAfter(entries: Entry[], last: Entry | undefined): Entry[] {
  if (!last) return entries;
  return entries.filter((e) => byteCompare(e.key, last.key) > 0 && !(last.kind === 'prefix' && e.key.startsWith(last.key)));
}

/** The entries of one listByPath page, in path order, from its split objects/commonPrefixes arrays. */
export function pageEntries(data: { objects: Array<{ path: string }>; commonPrefixes: string[] }): Entry[] {
  const all: Entry[] = [
    ...data.objects.map((o) => ({ kind: 'object' as const, key: o.path })),
    ...data.commonPrefixes.map((p) => ({ kind: 'prefix' as const, key: p })),
  ];
  return all.sort((a, b) => byteCompare(a.key, b.key));
}

/** The model page a listing must answer, as the API splits it. */
export function expectedPage(remaining: Entry[], maxKeys: number) {
  const page = remaining.slice(0, maxKeys);
  return {
    objects: page.filter((e) => e.kind === 'object').map((e) => e.key),
    commonPrefixes: page.filter((e) => e.kind === 'prefix').map((e) => e.key),
    isTruncated: remaining.length > maxKeys,
  };
}

/** The shard files under a data directory (content-addressed: named by their `Full…` hash). */
export function shardFilesOnDisk(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const full = path.join(d, e.name);
      if (e.isDirectory()) walk(full);
      else if (/^Full[0-9A-F]{64}$/.test(e.name)) out.push(full);
    }
  };
  walk(dir);
  return out.sort();
}
