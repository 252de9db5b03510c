import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { badArgument, notFound } from '#common';
import { sqlOf, type Sql } from '#db';
import { objectFromRow, toObjectView, type ObjectView } from './object-view.js';
import { LIST_EXACT, PACKAGE_EXISTS } from './statements.js';

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

const packageNotFound = (packageId: number) => notFound(`package ${packageId} not found`);

/** listByPath (spec §5): exact, prefix, and delimiter (`/`) listings with keyset pagination. */
@Injectable()
export class ObjectListing {
  private readonly sql: Sql;

  constructor(@InjectDataSource() ds: DataSource) {
    this.sql = sqlOf(ds);
  }

  /** A missing or foreign package is DataNotFound, checked before anything else about the query. */
  async list(userId: number, q: ListQuery): Promise<ListPage> {
    const listable = isListablePath(q.path);
    if (!q.isPrefix && listable) {
      // The exact form, the hot one: the package check and the object in one statement.
      const [row] = await this.sql.rows(LIST_EXACT, [userId, q.packageId, q.path]);
      if (!row!.package_found) throw packageNotFound(q.packageId);
      const objects = row!.object_id === null ? [] : [toObjectView(objectFromRow(row!))];
      return { objects, commonPrefixes: [], isTruncated: false, nextContinuationToken: '' };
    }
    if ((await this.sql.rows(PACKAGE_EXISTS, [userId, q.packageId])).length === 0) throw packageNotFound(q.packageId);
    // Such a path or prefix matches no object; PostgreSQL would refuse it as a parameter (a 500).
    if (!listable) return { objects: [], commonPrefixes: [], isTruncated: false, nextContinuationToken: '' };
    const prefix = q.path;
    const cursor: Cursor = q.continuationToken ? decodeToken(q.continuationToken, prefix) : { from: prefix };
    // One row per entry, maxKeys + 1 of them: the extra one only tells whether the listing goes on.
    const rows = await this.entries(userId, q.packageId, prefix, cursor, q.maxKeys + 1, q.noRecursive);
    const objects: ObjectView[] = [];
    const commonPrefixes: string[] = [];
    let last: Cursor | null = null;
    for (const r of rows.slice(0, q.maxKeys)) {
      const path = (r.entry ?? r.path) as string;
      const slash = q.noRecursive ? path.indexOf('/', prefix.length) : -1;
      if (slash >= 0) {
        const cp = path.slice(0, slash + 1);
        commonPrefixes.push(cp);
        // Everything under cp sorts before cp with its final '/' raised to '0'.
        last = { from: cp.slice(0, -1) + '0' };
      } else {
        objects.push(toObjectView(objectFromRow(r)));
        last = { after: path };
      }
    }
    const isTruncated = rows.length > q.maxKeys;
    return { objects, commonPrefixes, isTruncated, nextContinuationToken: isTruncated ? encodeToken(last!) : '' };
  }

  /**
   * The next `limit` entries at or after the cursor, in one statement (one snapshot). Recursive: a
   * range scan. Delimited: a skip scan — each step is one probe of the (package_id, path) index for
   * the first path at or after the previous entry's successor (past the whole common prefix, or the
   * object's path followed by U+0001, the smallest longer path since paths hold no NUL), so a page
   * costs maxKeys probes however many objects the common prefixes hold. Each row's `entry` is its
   * path (for a common prefix: the first path under it, and no object columns).
   */
  private entries(userId: number, packageId: number, prefix: string, c: Cursor, limit: number, delimited: boolean): Promise<Record<string, unknown>[]> {
    const upper = prefixUpperBound(prefix);
    const params: unknown[] = [userId, packageId, prefix, c.after ?? c.from, limit];
    if (upper !== null) params.push(upper);
    // Range bounds (not LIKE): '%' and '_' are plain characters, and the (package_id, path) index
    // serves both bounds (so a scan stops at the end of the prefix, not of the package).
    const inRange = (col: string) => `${col} >= $3 AND ${upper === null ? `starts_with(${col}, $3)` : `${col} < $6`}`;
    const start = c.after !== undefined ? 'path > $4' : 'path >= $4';
    // One prepared statement per shape of the text (8 in all).
    const name = `objects.list.${delimited ? 'd' : 'r'}${upper === null ? 'u' : 'b'}${c.after !== undefined ? 'a' : 'f'}`;
    if (!delimited) {
      return this.sql.rows(
        {
          name,
          text: `SELECT * FROM objects WHERE user_id = $1 AND package_id = $2 AND ${inRange('path')} AND ${start} ORDER BY path LIMIT $5`,
        },
        params,
      );
    }
    // The position of the first '/' after the prefix in a path (0: none, the path is a direct child).
    const slashAt = (col: string) => `strpos(substr(${col}, char_length($3) + 1), '/')`;
    return this.sql.rows(
      {
        name,
        text: `WITH RECURSIVE walk(path, n) AS (
         SELECT (SELECT path FROM objects WHERE user_id = $1 AND package_id = $2 AND ${inRange('path')} AND ${start}
                 ORDER BY path LIMIT 1), 1
         UNION ALL
         SELECT (SELECT o.path FROM objects o WHERE o.user_id = $1 AND o.package_id = $2 AND ${inRange('o.path')}
                   AND o.path >= CASE WHEN ${slashAt('w.path')} > 0
                                      THEN left(w.path, char_length($3) + ${slashAt('w.path')} - 1) || '0'
                                      ELSE w.path || chr(1) END
                 ORDER BY o.path LIMIT 1), w.n + 1
         FROM walk w WHERE w.path IS NOT NULL AND w.n < $5)
       SELECT w.path AS entry, o.* FROM walk w
       LEFT JOIN objects o ON o.user_id = $1 AND o.package_id = $2 AND o.path = w.path AND ${slashAt('w.path')} = 0
       WHERE w.path IS NOT NULL ORDER BY w.n`,
      },
      params,
    );
  }
}
