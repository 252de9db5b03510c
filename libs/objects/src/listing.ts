import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { badArgument } from '../../common/src/index.js';
import { objectFromRow, toObjectView, type ObjectView } from './object-view.js';

export interface ListQuery {
  packageId: number;
  path: string;
  isPrefix: boolean;
  noRecursive: boolean;
  maxKeys: number;
  continuationToken?: string;
}

export interface ListPage {
  objects: ObjectView[];
  commonPrefixes: string[];
  isTruncated: boolean;
  nextContinuationToken: string;
}

/**
 * The position after which the next page starts: `after` is exclusive, or `from` inclusive (used to
 * skip a whole common prefix). Keyset positions, not offsets, so a page never repeats or skips an
 * entry while objects are added or removed.
 */
interface Cursor {
  after?: string;
  from?: string;
}

const encodeToken = (c: Cursor): string => Buffer.from(JSON.stringify(c), 'utf8').toString('base64url');

function decodeToken(token: string, prefix: string): Cursor {
  try {
    const c = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as Cursor;
    const key = c.after ?? c.from;
    if (typeof key !== 'string' || (c.after !== undefined) === (c.from !== undefined)) throw new Error();
    // Every position this listing hands out starts with the prefix and is a well-formed path (no NUL,
    // no lone surrogate); anything else would reach PostgreSQL as an invalid string or list elsewhere.
    if (!key.startsWith(prefix) || !isListablePath(key)) throw new Error();
    return c;
  } catch {
    throw badArgument('continuationToken is not one this listing gave out');
  }
}

/** No stored path holds a NUL or a lone surrogate (PostgreSQL text cannot hold the one, UTF-8 not the other). */
const isListablePath = (s: string) => !/[\u0000\ud800-\udfff]/u.test(s);

/**
 * The smallest string greater than every string that starts with `prefix`, in code point order (which
 * is the byte order of UTF-8 and of COLLATE "C"); null when there is none.
 */
export function prefixUpperBound(prefix: string): string | null {
  const cps = [...prefix];
  while (cps.length) {
    const last = cps.pop()!.codePointAt(0)!;
    let next = last + 1;
    if (next >= 0xd800 && next <= 0xdfff) next = 0xe000; // surrogates are not characters
    if (next <= 0x10ffff) return cps.join('') + String.fromCodePoint(next);
  }
  return null;
}

/** listByPath (spec §5): exact, prefix, and delimiter (`/`) listings with keyset pagination. */
@Injectable()
export class ObjectListing {
  constructor(@InjectDataSource() private readonly ds: DataSource) {}

  async list(userId: number, q: ListQuery): Promise<ListPage> {
    // Such a path or prefix matches no object; PostgreSQL would refuse it as a parameter (a 500).
    if (!isListablePath(q.path)) return { objects: [], commonPrefixes: [], isTruncated: false, nextContinuationToken: '' };
    if (!q.isPrefix) {
      const rows = await this.ds.query('SELECT * FROM objects WHERE user_id = $1 AND package_id = $2 AND path = $3', [userId, q.packageId, q.path]);
      return { objects: rows.map((r: Record<string, unknown>) => toObjectView(objectFromRow(r))), commonPrefixes: [], isTruncated: false, nextContinuationToken: '' };
    }
    const prefix = q.path;
    const upper = prefixUpperBound(prefix);
    let cursor: Cursor = q.continuationToken ? decodeToken(q.continuationToken, prefix) : { from: prefix };
    const objects: ObjectView[] = [];
    const commonPrefixes: string[] = [];
    let count = 0;
    let lastCursor: Cursor | null = null;

    while (count < q.maxKeys) {
      const limit = q.maxKeys - count;
      const rows: Record<string, unknown>[] = await this.fetch(userId, q.packageId, prefix, upper, cursor, limit);
      if (rows.length === 0) break;
      let skipped = false;
      for (const r of rows) {
        const path = r.path as string;
        if (q.noRecursive) {
          const slash = path.indexOf('/', prefix.length);
          if (slash >= 0) {
            const cp = path.slice(0, slash + 1);
            commonPrefixes.push(cp);
            count++;
            // Everything under cp sorts before cp with its final '/' raised to '0'.
            cursor = { from: cp.slice(0, -1) + '0' };
            lastCursor = cursor;
            skipped = true;
            break;
          }
        }
        objects.push(toObjectView(objectFromRow(r)));
        count++;
        cursor = { after: path };
        lastCursor = cursor;
        if (count >= q.maxKeys) break;
      }
      if (!skipped && rows.length < limit) break; // the query returned everything left
    }

    const isTruncated = lastCursor !== null && count >= q.maxKeys && (await this.fetch(userId, q.packageId, prefix, upper, lastCursor, 1)).length > 0;
    return { objects, commonPrefixes, isTruncated, nextContinuationToken: isTruncated ? encodeToken(lastCursor!) : '' };
  }

  private fetch(userId: number, packageId: number, prefix: string, upper: string | null, c: Cursor, limit: number) {
    const params: unknown[] = [userId, packageId, prefix, c.after ?? c.from, limit];
    const op = c.after !== undefined ? '>' : '>=';
    // Range bounds (not LIKE): '%' and '_' are plain characters, and the (package_id, path) index serves it.
    const upperCond = upper === null ? 'starts_with(path, $3)' : 'path < $6';
    if (upper !== null) params.push(upper);
    return this.ds.query(
      `SELECT * FROM objects
       WHERE user_id = $1 AND package_id = $2 AND path >= $3 AND path ${op} $4 AND ${upperCond}
       ORDER BY path LIMIT $5`,
      params,
    );
  }
}
