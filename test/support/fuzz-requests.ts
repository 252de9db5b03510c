import fc from 'fast-check';

/**
 * fast-check generators of hostile `/v1` requests, as plain data (bytes, headers, an auth variant) so a
 * failing case prints and replays from its seed; signing happens when the case is sent.
 */

/** IDs that exist when the fuzz starts: the caller's own, and the other tenant's (must stay unreachable). */
export interface FuzzIds {
  buckets: number[];
  packages: number[];
  objects: number[];
  multipartObjects: number[];
  userSpaces: number[];
  bucketNames: string[];
  paths: string[];
}

export type AuthVariant =
  | 'signed'
  | 'unsigned'
  | 'wrongSecret'
  | 'unknownKey'
  | 'badSignature'
  | 'expired'
  | 'future'
  | 'wrongService'
  | 'payloadMismatch'
  | 'garbageAuthorization'
  | 'presignedGarbage'
  | 'headerAndPresigned';

export interface FuzzCase {
  /** Which generator made it (for summaries): a route label or 'unknown'. */
  route: string;
  method: string;
  path: string;
  /** Query pairs (percent-encoded byte for byte when sent), or a raw query string sent as is. */
  query: Array<[string, Uint8Array | string]> | { raw: string };
  headers: Array<[string, string | Uint8Array]>;
  body?: Uint8Array;
  /** Multipart bodies are signed UNSIGNED-PAYLOAD, as streamed uploads are. */
  streamed: boolean;
  auth: AuthVariant;
  /** Content-Length differs from the body: 'larger' leaves the server waiting. */
  lengthLie?: 'smaller' | 'larger';
  /** 'end': half-close after the body (an upload cut off); 'stall': keep the socket open, send nothing more. */
  after?: 'wait' | 'end' | 'stall';
  /** Malformed at the HTTP level (bad header bytes, conflicting lengths): Node's parser may answer bare. */
  protocolAbuse?: boolean;
  /** userSpace/test against a closed loopback port: OperationFailed 502/503 is the documented answer. */
  backendProbe?: boolean;
  /** A truncated or malformed form: issue 7 allows BadArgument or a closed connection. */
  mayClose?: boolean;
  /** The JSON document the route reads: the body of a JSON route, the `info` part of a form. */
  doc?: Uint8Array;
}

const MAX_JSON_DEPTH = 32; // libs/common MAX_JSON_DEPTH: the contract's deepest request is 4 levels
const fatalUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const isWellFormed = (s: string) => !/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(s);

function textProblem(b: Uint8Array): string | undefined {
  let s: string;
  try {
    s = fatalUtf8.decode(b);
  } catch {
    return 'invalid UTF-8';
  }
  if (s.includes('\0')) return 'raw NUL';
  return undefined;
}

function jsonProblem(b: Uint8Array): string | undefined {
  const t = textProblem(b);
  if (t) return t;
  const s = fatalUtf8.decode(b);
  if (s.charCodeAt(0) === 0xfeff) return undefined; // a BOM: left to the gateway's judgement
  let depth = 0;
  let max = 0;
  let inStr = false;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i];
    if (inStr) {
      if (ch === '\\') i++;
      else if (ch === '"') inStr = false;
    } else if (ch === '"') inStr = true;
    else if (ch === '[' || ch === '{') max = Math.max(max, ++depth);
    else if (ch === ']' || ch === '}') depth--;
  }
  if (max > MAX_JSON_DEPTH) return `JSON nested deeper than ${MAX_JSON_DEPTH} — ${max} levels`;
  let v: unknown;
  try {
    v = JSON.parse(s);
  } catch {
    return 'not JSON';
  }
  const bad = (x: string) => x.includes('\0') || !isWellFormed(x);
  const stack = [v];
  while (stack.length) {
    const x = stack.pop();
    if (typeof x === 'string' && bad(x)) return `string with NUL or a lone surrogate — ${JSON.stringify(x).slice(0, 40)}`;
    if (x && typeof x === 'object') {
      for (const [k, y] of Object.entries(x)) {
        if (bad(k)) return `key with NUL or a lone surrogate — ${JSON.stringify(k)}`;
        stack.push(y);
      }
    }
  }
  return undefined;
}

/**
 * Why this request's input must be refused whatever else it holds (issue 7: one gate for every route):
 * a query or JSON string with NUL or a lone surrogate, invalid UTF-8, JSON nested deeper than the
 * bound, a JSON route's body that is not `application/json` in UTF-8. Undefined when no such claim holds
 * (or the framing is broken, so what the server reads is not what was generated).
 */
export function hostileInput(c: FuzzCase): string | undefined {
  if (c.route === 'unknown' || c.route === 'wrongMethod' || c.protocolAbuse || c.lengthLie || c.after === 'end') return undefined;
  const form = c.route.endsWith('/upload') || c.route.endsWith('/uploadPart');
  for (const [k, v] of Array.isArray(c.query) ? c.query : []) {
    for (const part of [k, v]) {
      const b = typeof part === 'string' ? new TextEncoder().encode(part) : part;
      const p = textProblem(b) ?? (typeof part === 'string' && part.includes('\0') ? 'NUL' : undefined);
      if (p) return `query: ${p} — in ${JSON.stringify(k)}`;
    }
  }
  if (c.doc) {
    const p = jsonProblem(c.doc);
    if (p) return `${form ? 'info part' : 'body'}: ${p}`;
  }
  if (c.method === 'POST' && c.doc && !form) {
    const cts = c.headers.filter(([k]) => k.toLowerCase() === 'content-type');
    if (cts.length === 1) {
      const ct = String(cts[0][1]);
      const media = ct.split(';')[0].trim().toLowerCase();
      const charset = /charset=([^;]*)/i.exec(ct)?.[1].trim().toLowerCase().replace(/^"|"$/g, '');
      if (media !== 'application/json' || (charset !== undefined && charset !== '' && charset !== 'utf-8')) return `body: not UTF-8 JSON by its content-type — ${JSON.stringify(ct)}`;
    }
  }
  return undefined;
}

const enc = (s: string) => new TextEncoder().encode(s);
const cat = (...parts: Array<Uint8Array | string>) => {
  const bufs = parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p)));
  return new Uint8Array(Buffer.concat(bufs));
};

/** JSON text built from nodes, with literals and raw bytes that JSON.stringify cannot produce. */
export type JNode =
  | { t: 'lit'; text: string }
  | { t: 'str'; value: string }
  | { t: 'bytes'; value: Uint8Array } // raw bytes inside a JSON string (invalid UTF-8, raw NUL, CESU surrogates)
  | { t: 'arr'; items: JNode[] }
  | { t: 'obj'; entries: Array<[string, JNode]> }
  | { t: 'deep'; depth: number; kind: 'arr' | 'obj' | 'mixed' };

export function jsonBytes(n: JNode): Uint8Array {
  const out: Array<Uint8Array | string> = [];
  const walk = (x: JNode) => {
    switch (x.t) {
      case 'lit':
        return out.push(x.text);
      case 'str':
        return out.push(JSON.stringify(x.value));
      case 'bytes':
        return out.push('"', x.value, '"');
      case 'arr':
        out.push('[');
        x.items.forEach((it, i) => (i && out.push(','), walk(it)));
        return out.push(']');
      case 'obj':
        out.push('{');
        x.entries.forEach(([k, v], i) => (i && out.push(','), out.push(JSON.stringify(k) + ':'), walk(v)));
        return out.push('}');
      case 'deep': {
        let open = '';
        let close = '';
        for (let i = 0; i < x.depth; i++) {
          const o = x.kind === 'arr' || (x.kind === 'mixed' && i % 2) ? '[' : '{"a":';
          open += o;
          close = (o === '[' ? ']' : '}') + close;
        }
        return out.push(open + '1' + close);
      }
    }
  };
  walk(n);
  return cat(...out);
}

/** Present once in `oneIn` cases, else undefined. */
const rarely = <T>(arb: fc.Arbitrary<T>, oneIn: number): fc.Arbitrary<T | undefined> =>
  fc.oneof({ weight: oneIn - 1, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: arb });

const lit = (text: string): JNode => ({ t: 'lit', text });
const str = (value: string): JNode => ({ t: 'str', value });
const obj = (entries: Array<[string, JNode]>): JNode => ({ t: 'obj', entries });

/** Raw byte sequences that are not valid UTF-8 (or are a lone surrogate in CESU-8 form), or a raw NUL. */
const badBytes = fc.constantFrom(
  Uint8Array.of(0xff),
  Uint8Array.of(0xc0, 0xaf),
  Uint8Array.of(0xed, 0xa0, 0x80),
  Uint8Array.of(0xed, 0xbf, 0xbf),
  Uint8Array.of(0xe2, 0x82),
  Uint8Array.of(0xf4, 0x90, 0x80, 0x80),
  Uint8Array.of(0x00),
  Uint8Array.of(0x61, 0x00, 0x62),
  Uint8Array.of(0xfe, 0xfe, 0xff),
);

/** Strings that are valid JS strings but hostile: NUL, lone surrogates, controls, long, dot segments. */
const nastyString = fc.oneof(
  fc.constantFrom('', ' ', '.', '..', '/', 'a/../..', '\u0000', 'a\u0000b', '\ud800', 'x\udfffy', '\ud83d', '\u202e', '\r\n', '%00', '%', '+', 'a+b', '\\', '..\\..\\x', 'NaN', '1e308', '-0', 'Infinity', '9223372036854775808', 'null', 'true', '[]', '{}', 'SELECT 1', "'; DROP TABLE objects; --"),
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.integer({ min: 256, max: 5000 }).map((n) => 'x'.repeat(n)),
);

/** Numbers as JSON literals, including ones no JS number represents exactly. */
const hugeNumber = fc.constantFrom('1e308', '1e309', '-1e308', '9223372036854775807', '9223372036854775808', '18446744073709551616', '-9223372036854775809', '-0', '0', '-1', '0.5', '1.0', '1e2', '9007199254740993', '4294967296', '2147483648', '123456789012345678901234567890');

/** Any JSON value of a wrong or odd kind, including deep nesting up to thousands of levels. */
const wildJson: fc.Arbitrary<JNode> = fc.oneof(
  { weight: 3, arbitrary: hugeNumber.map(lit) },
  { weight: 3, arbitrary: nastyString.map(str) },
  { weight: 2, arbitrary: badBytes.map((value): JNode => ({ t: 'bytes', value })) },
  { weight: 1, arbitrary: fc.constantFrom('null', 'true', 'false', '[]', '{}', '""', '[1,2]', '{"a":1}', '"\\u0000"', '"\\ud800"', '"\\udc00\\ud800"', '"a\\u0000b"').map(lit) },
  {
    weight: 2,
    arbitrary: fc
      .record({ depth: fc.oneof(fc.integer({ min: 2, max: 40 }), fc.constantFrom(100, 512, 1000, 2000, 5000, 10000)), kind: fc.constantFrom('arr' as const, 'obj' as const, 'mixed' as const) })
      .map(({ depth, kind }): JNode => ({ t: 'deep', depth, kind })),
  },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => lit(JSON.stringify(v) ?? 'null')) },
);

/** An ID: a real one (ours or the other tenant's), or a wrong value. */
function idArb(pool: number[]): fc.Arbitrary<JNode> {
  const real = pool.length ? fc.constantFrom(...pool).map((n) => lit(String(n))) : fc.constant(lit('1'));
  return fc.oneof({ weight: 6, arbitrary: real }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 50 }).map((n) => lit(String(n))) }, { weight: 3, arbitrary: wildJson });
}
const nameArb = fc.oneof({ weight: 3, arbitrary: fc.stringMatching(/^[a-z0-9-]{1,12}$/).map((s) => str('f-' + s)) }, { weight: 3, arbitrary: wildJson });
const pathArb = (pool: string[]) =>
  fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...(pool.length ? pool : ['a'])).map(str) },
    { weight: 2, arbitrary: fc.stringMatching(/^[a-z]{1,6}(\/[a-z0-9.]{1,6}){0,3}$/).map(str) },
    { weight: 3, arbitrary: wildJson },
  );

/** A field is present and sensible, present and wrong, or missing. */
type FieldGen = [string, fc.Arbitrary<JNode>];
function bodyOf(fields: FieldGen[]): fc.Arbitrary<JNode> {
  const present = fields.map(([k, v]) =>
    fc.oneof({ weight: 6, arbitrary: v.map((n) => [[k, n]] as Array<[string, JNode]>) }, { weight: 1, arbitrary: fc.constant([] as Array<[string, JNode]>) }, { weight: 1, arbitrary: wildJson.map((n) => [[k, n]] as Array<[string, JNode]>) }),
  );
  const extra = fc.array(fc.tuple(fc.oneof(fc.constantFrom('__proto__', 'constructor', 'userID', 'extra', '', '\u0000', '\ud800'), fc.string({ maxLength: 8 })), wildJson), { maxLength: 2 });
  const shaped = fc.tuple(fc.tuple(...present), extra, fc.boolean()).map(([ps, ex, dup]) => {
    const entries = ps.flat();
    // A repeated key: JSON.parse keeps the last one; a validator looking at the first would disagree.
    if (dup && entries.length) entries.push([entries[0][0], lit('"dup"')]);
    return obj([...entries, ...ex]);
  });
  return fc.oneof({ weight: 8, arbitrary: shaped }, { weight: 2, arbitrary: wildJson });
}

/** Storage specs: Local mostly; S3/OBS only with endpoints that are not URLs or a closed loopback port. */
export function storageArb(localTargets: string[], probe: boolean): fc.Arbitrary<JNode> {
  const endpoints = ['', 'not a url', 'http://', '://x', 'ftp://127.0.0.1/', '\u0000', 'http://[', 'javascript:alert(1)', 'file:///etc/passwd', ...(probe ? ['http://127.0.0.1:1'] : [])];
  const local = fc.option(fc.oneof(fc.constantFrom(...localTargets).map(str), wildJson), { nil: undefined }).map((root) =>
    obj([['type', str('Local')], ...(root ? ([['rootDir', root]] as Array<[string, JNode]>) : [])]),
  );
  const remote = fc
    .record({ type: fc.constantFrom('S3', 'OBS', 's3', 'Other', ''), endpoint: fc.oneof(fc.constantFrom(...endpoints).map(str), wildJson), bucket: fc.oneof(fc.constant(str('b')), wildJson), region: fc.oneof(fc.constant(str('any')), wildJson) })
    .map((r) => obj([['type', str(r.type)], ['endpoint', r.endpoint], ['bucket', r.bucket], ['region', r.region], ['projectID', str('p')]]));
  return fc.oneof({ weight: 4, arbitrary: local }, { weight: 2, arbitrary: remote }, { weight: 1, arbitrary: wildJson });
}
const credentialArb = fc.oneof(
  fc.constant(obj([['type', str('Local')]])),
  fc.record({ type: fc.constantFrom('S3', 'OBS', 'Local', 'x'), k: fc.oneof(fc.constant(str('AK')), wildJson), s: fc.oneof(fc.constant(str('SK')), wildJson) }).map((r) => obj([['type', str(r.type)], ['accessKeyId', r.k], ['secretAccessKey', r.s]])),
  wildJson,
);

export interface RouteContext {
  ids: FuzzIds;
  /** rootDir values to try in Local specs (own folder, the other tenant's, the data dir, outside). */
  localTargets: string[];
}

interface JsonRoute {
  kind: 'json';
  path: string;
  body: fc.Arbitrary<JNode>;
}
interface QueryRoute {
  kind: 'query';
  path: string;
  params: Array<[string, fc.Arbitrary<string | Uint8Array>]>;
  range?: boolean;
}
interface FormRoute {
  kind: 'form';
  path: string;
  info: fc.Arbitrary<JNode>;
  fileField: string;
}
type Route = JsonRoute | QueryRoute | FormRoute;

/** Redundancy policies (ours): valid ones, near misses and anything. */
const policyArb: fc.Arbitrary<JNode> = fc.oneof(
  fc
    .constantFrom(
      'null',
      '{"type":"none"}',
      '{"type":"rep","repCount":2}',
      '{"type":"ec","k":2,"n":3,"chunkSize":4096}',
      '{"type":"auto","threshold":1000,"small":{"type":"rep","repCount":2},"large":{"type":"ec","k":2,"n":3,"chunkSize":64}}',
      '{"type":"ec","k":3,"n":3,"chunkSize":64}',
      '{"type":"ec","k":2,"n":3,"chunkSize":65}',
      '{"type":"auto","threshold":1,"small":{"type":"auto"},"large":{"type":"none"}}',
      '{"type":"rep","repCount":1e400}',
    )
    .map(lit),
  wildJson,
);

const qWild: fc.Arbitrary<string | Uint8Array> = fc.oneof(
  nastyString.filter((s) => !/[\ud800-\udfff]/.test(s)),
  badBytes,
  hugeNumber,
  fc.constantFrom('', '0x10', ' 1', '1 ', '1.5', '+1', '1,2', '[1]', 'NaN', '-1', 'true', 'TRUE', 'yes', '1'.repeat(400)),
);
const qId = (pool: number[]) => fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...(pool.length ? pool : [1])).map(String) }, { weight: 3, arbitrary: qWild });
const qStr = (pool: string[]) => fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...(pool.length ? pool : ['a'])) }, { weight: 3, arbitrary: qWild });
const qBool = fc.oneof(fc.constantFrom('true', 'false'), qWild);
const qInt = fc.oneof(fc.constantFrom('0', '1', '3', '10', '1000'), qWild);

/** Every `/v1` route of apps/gateway/src/{buckets,packages,objects,user-spaces,space-syncer}/*.controller.ts. */
export function routes(ctx: RouteContext): Route[] {
  const { ids } = ctx;
  const id = (pool: number[]) => idArb(pool);
  return [
    { kind: 'json', path: '/v1/bucket/create', body: bodyOf([['name', nameArb], ['userID', id([1, 2, 3])]]) },
    { kind: 'query', path: '/v1/bucket/getByName', params: [['name', qStr(ids.bucketNames)]] },
    { kind: 'query', path: '/v1/bucket/listAll', params: [] },
    { kind: 'json', path: '/v1/bucket/delete', body: bodyOf([['bucketID', id(ids.buckets)]]) },
    { kind: 'json', path: '/v1/package/create', body: bodyOf([['bucketID', id(ids.buckets)], ['name', nameArb], ['redundancy', policyArb]]) },
    { kind: 'json', path: '/v1/package/setRedundancy', body: bodyOf([['packageID', id(ids.packages)], ['redundancy', policyArb]]) },
    { kind: 'query', path: '/v1/package/redundancyStatus', params: [['packageID', qId(ids.packages)]] },
    { kind: 'query', path: '/v1/object/blocks', params: [['objectID', qId(ids.objects)]] },
    { kind: 'query', path: '/v1/package/getByFullName', params: [['bucketName', qStr(ids.bucketNames)], ['packageName', qStr(['pkg', 'pkg2'])]] },
    { kind: 'query', path: '/v1/package/listBucketPackages', params: [['bucketID', qId(ids.buckets)]] },
    { kind: 'json', path: '/v1/package/delete', body: bodyOf([['packageID', id(ids.packages)]]) },
    { kind: 'form', path: '/v1/object/upload', fileField: 'files', info: bodyOf([['packageID', id(ids.packages)], ['affinity', id(ids.userSpaces)], ['redundancy', policyArb]]) },
    { kind: 'query', path: '/v1/object/download', range: true, params: [['objectID', qId(ids.objects)], ['offset', qInt], ['length', qInt]] },
    { kind: 'query', path: '/v1/object/downloadByPath', range: true, params: [['packageID', qId(ids.packages)], ['path', qStr(ids.paths)], ['offset', qInt], ['length', qInt]] },
    {
      kind: 'query',
      path: '/v1/object/listByPath',
      params: [['packageID', qId(ids.packages)], ['path', qStr(['', 'a', 'a/', 'dir/', ...ids.paths])], ['isPrefix', qBool], ['noRecursive', qBool], ['maxKeys', qInt], ['continuationToken', qWild]],
    },
    { kind: 'query', path: '/v1/object/getPackageObjects', params: [['packageID', qId(ids.packages)]] },
    { kind: 'json', path: '/v1/object/move', body: bodyOf([['movings', fc.array(bodyOf([['objectID', id(ids.objects)], ['packageID', id(ids.packages)], ['path', pathArb(ids.paths)]]), { maxLength: 3 }).map((items): JNode => ({ t: 'arr', items }))]]) },
    { kind: 'json', path: '/v1/object/delete', body: bodyOf([['objectIDs', fc.array(id(ids.objects), { maxLength: 4 }).map((items): JNode => ({ t: 'arr', items }))]]) },
    { kind: 'json', path: '/v1/object/clone', body: bodyOf([['clonings', fc.array(bodyOf([['objectID', id(ids.objects)], ['newPath', pathArb(ids.paths)], ['newPackageID', id(ids.packages)]]), { maxLength: 3 }).map((items): JNode => ({ t: 'arr', items }))]]) },
    { kind: 'json', path: '/v1/object/newMultipartUpload', body: bodyOf([['packageID', id(ids.packages)], ['path', pathArb(ids.paths)]]) },
    { kind: 'form', path: '/v1/object/uploadPart', fileField: 'file', info: bodyOf([['objectID', id(ids.multipartObjects)], ['index', fc.oneof(fc.integer({ min: 0, max: 3 }).map((n) => lit(String(n))), wildJson)]]) },
    {
      kind: 'json',
      path: '/v1/object/completeMultipartUpload',
      body: bodyOf([
        ['objectID', id([...ids.multipartObjects, ...ids.objects])],
        ['indexes', fc.oneof(fc.array(fc.oneof(fc.integer({ min: 0, max: 3 }).map((n) => lit(String(n))), wildJson), { maxLength: 5 }).map((items): JNode => ({ t: 'arr', items })), fc.integer({ min: 100, max: 2000 }).map((n): JNode => ({ t: 'arr', items: Array.from({ length: n }, () => lit('0')) })))],
      ]),
    },
    {
      kind: 'json',
      path: '/v1/userSpace/create',
      body: bodyOf([['name', nameArb], ['storage', storageArb(ctx.localTargets, false)], ['credential', credentialArb], ['shardStore', fc.oneof(fc.constant(lit('null')), fc.constant(obj([['maxSize', lit('1048576')]])), wildJson)], ['features', fc.oneof(fc.constant(lit('[]')), wildJson)], ['workingDir', fc.oneof(fc.constantFrom('', '.jcs', 'shards', '..', '/').map(str), wildJson)]]),
    },
    { kind: 'json', path: '/v1/userSpace/update', body: bodyOf([['userSpaceID', id(ids.userSpaces)], ['name', nameArb], ['credential', credentialArb]]) },
    { kind: 'json', path: '/v1/userSpace/delete', body: bodyOf([['userSpaceID', id(ids.userSpaces)]]) },
    { kind: 'query', path: '/v1/userSpace/get', params: [['userSpaceID', qId(ids.userSpaces)]] },
    { kind: 'json', path: '/v1/userSpace/test', body: bodyOf([['storage', storageArb(ctx.localTargets, true)], ['credential', credentialArb], ['workingDir', fc.oneof(fc.constantFrom('', 'probe', 'shards', '..').map(str), wildJson)]]) },
    {
      kind: 'json',
      path: '/v1/userSpace/createPackage',
      body: bodyOf([['userSpaceID', id(ids.userSpaces)], ['path', fc.oneof(fc.constantFrom('import', 'import/one.txt', '.', '', '..', '../..', 'shards', 'missing').map(str), wildJson)], ['bucketID', id(ids.buckets)], ['name', nameArb], ['spaceAffinity', id(ids.userSpaces)]]),
    },
    {
      kind: 'json',
      path: '/v1/userSpace/downloadPackage',
      body: bodyOf([['userSpaceID', id(ids.userSpaces)], ['packageID', id(ids.packages)], ['rootPath', fc.oneof(fc.constantFrom('out', 'out/x', '', '.', '..', '../..', 'shards', 'shards/blocks', 'shards/tmp', '/tmp').map(str), wildJson)]]),
    },
    ...syncerRoutes(ids.userSpaces, id),
  ];
}

/** spaceSyncer/*: task bodies that are close to valid (real spaces, known types) or wild anywhere. */
function syncerRoutes(spaces: number[], id: (pool: number[]) => fc.Arbitrary<JNode>): Route[] {
  const arr = (arb: fc.Arbitrary<JNode>, maxLength = 3) => fc.array(arb, { maxLength }).map((items): JNode => ({ t: 'arr', items }));
  const folder = fc.oneof(fc.constantFrom('', 'in', 'out/x', '..', '../x', '/abs', '.jcs/shards', 'a//b').map(str), wildJson);
  const trigger = fc.oneof(
    fc.constant(obj([['type', str('Once')]])),
    fc.oneof(fc.constantFrom('0', '-1', '1.5', '2', '1e9').map(lit), wildJson).map((n) => obj([['type', str('Interval')], ['interval', n]])),
    arr(fc.oneof(fc.constantFrom('2001-01-01T00:00:00Z', '2999-01-01T00:00:00Z', 'soon').map(str), wildJson)).map((at) => obj([['type', str('At')], ['at', at]])),
    wildJson,
  );
  const mode = fc.oneof(
    fc.constant(obj([['type', str('Full')]])),
    fc.record({ s: fc.oneof(fc.constantFrom('true', 'false').map(lit), wildJson), t: fc.oneof(fc.constantFrom('true', 'false').map(lit), wildJson) }).map(({ s, t }) => obj([['type', str('Diff')], ['includeSize', s], ['includeModTime', t]])),
    wildJson,
  );
  const filter = fc.oneof(
    fc.oneof(fc.constantFrom('0', '-1', '5').map(lit), wildJson).map((n) => obj([['type', str('Size')], ['minSize', n]])),
    arr(fc.oneof(fc.constantFrom('mp4', '.MP4', '', '.').map(str), wildJson)).map((e) => obj([['type', str('Extension')], ['extensions', e]])),
    arr(fc.oneof(fc.constantFrom('**/*.mp4', '[abc', '', '!(x)', '{a,b}').map(str), wildJson)).map((g) => obj([['type', str('Path')], ['include', g]])),
    wildJson,
  );
  const task = bodyOf([
    ['trigger', trigger],
    ['mode', mode],
    ['filters', arr(filter)],
    ['options', fc.oneof(fc.constant(obj([['noEmptyDirectories', lit('true')]])), wildJson)],
    ['srcUserSpaceID', id(spaces)],
    ['srcPath', folder],
    ['destUserSpaceIDs', arr(id(spaces))],
    ['destPathes', arr(folder)],
  ]);
  const taskId = fc.oneof(fc.constantFrom('1', '2', '999').map(String), qWild);
  return [
    { kind: 'json', path: '/v1/spaceSyncer/createTask', body: task },
    { kind: 'json', path: '/v1/spaceSyncer/planTask', body: task },
    { kind: 'query', path: '/v1/spaceSyncer/getTask', params: [['taskID', taskId]] },
    { kind: 'query', path: '/v1/spaceSyncer/getTaskRuns', params: [['taskID', taskId]] },
    { kind: 'query', path: '/v1/spaceSyncer/listTasks', params: [] },
    { kind: 'json', path: '/v1/spaceSyncer/cancelTask', body: bodyOf([['taskID', id([1, 2, 999])]]) },
  ];
}

/** Content-Type values: the right one, charsets and media types that must be refused, garbage. */
const jsonContentType = fc.oneof(
  { weight: 8, arbitrary: fc.constant('application/json') },
  { weight: 4, arbitrary: fc.constantFrom('application/json; charset=utf-8', 'application/json; charset=UTF-8', 'application/json; charset=latin1', 'application/json; charset=iso-8859-1', 'application/json; charset=utf-16le', 'application/json; charset=utf-16', 'application/json; charset=garbage', 'application/json; charset=', 'application/json;;;', 'text/plain', 'text/json', 'application/x-www-form-urlencoded', 'application/octet-stream', 'multipart/form-data', 'multipart/form-data; boundary=x', 'application/jsonx', '*/*', '', 'garbage') },
  // Printable garbage only: control bytes in a header are the HTTP parser's business (see headerAbuse).
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme-ascii', maxLength: 30 }) },
);

/** A body in UTF-16 or latin1 instead of UTF-8 (the charset label may or may not say so). */
function reencode(body: Uint8Array, how: 'utf8' | 'utf16le' | 'latin1' | 'bom'): Uint8Array {
  const text = Buffer.from(body).toString('utf8');
  if (how === 'utf16le') return new Uint8Array(Buffer.from(text, 'utf16le'));
  if (how === 'latin1') return new Uint8Array(Buffer.from(text, 'latin1'));
  if (how === 'bom') return cat(Uint8Array.of(0xef, 0xbb, 0xbf), body);
  return body;
}

/** One multipart part as raw bytes. */
interface RawPart {
  name: string;
  filename?: string;
  contentType?: string;
  data: Uint8Array;
}

const BOUNDARY = 'fuzzBoundary7MA4YWxkTrZu0gW';

function formBytes(parts: RawPart[], boundary: string, final: boolean): Uint8Array {
  const out: Array<Uint8Array | string> = [];
  for (const p of parts) {
    out.push(`--${boundary}\r\nContent-Disposition: form-data; name="${p.name}"${p.filename !== undefined ? `; filename="${p.filename}"` : ''}\r\n`);
    if (p.contentType) out.push(`Content-Type: ${p.contentType}\r\n`);
    out.push('\r\n', p.data, '\r\n');
  }
  if (final) out.push(`--${boundary}--\r\n`);
  return cat(...out);
}

/** Deterministic filler bytes of a given size (cheaper than generating them with fast-check). */
function filler(size: number, seed: number): Uint8Array {
  const b = new Uint8Array(size);
  let x = seed | 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

const filenameArb = (paths: string[]) =>
  fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...(paths.length ? paths : ['a'])).map(encodeURIComponent) },
    { weight: 2, arbitrary: fc.stringMatching(/^[a-z]{1,5}(%2F[a-z0-9]{1,5}){0,2}$/) },
    { weight: 3, arbitrary: fc.constantFrom('', '%', '%ZZ', '%00', 'a%00b', '%C0%AF', '%ED%A0%80', '..%2F..%2Fx', '%2Fabs', 'a%2F%2Fb', 'a\\b', '..', '.', 'x'.repeat(2000), '%FF', 'a"b', 'a;b') },
  );

interface FormShape {
  infoFirst: boolean;
  infoCount: 0 | 1 | 2;
  infoBytes: Uint8Array;
  infoContentType?: string;
  files: Array<{ filename: string; size: number; seed: number; field: string }>;
  boundaryInHeader: 'same' | 'other' | 'missing' | 'quoted' | 'empty';
  final: boolean;
  /** Cut the form at this fraction of its length (HTTP framing stays correct: the form itself is truncated). */
  cutAt?: number;
  preamble: boolean;
}

function formCase(r: FormRoute, ctx: RouteContext): fc.Arbitrary<{ body: Uint8Array; contentType: string; info?: Uint8Array; broken: boolean }> {
  const fileArb = fc.record({
    filename: filenameArb(ctx.ids.paths),
    // Mostly small; sometimes large enough that later parts queue while an earlier one is stored.
    size: fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 0, max: 2048 }) }, { weight: 1, arbitrary: fc.integer({ min: 32 * 1024, max: 256 * 1024 }) }),
    seed: fc.integer({ min: 1, max: 1 << 30 }),
    field: fc.oneof({ weight: 8, arbitrary: fc.constant(r.fileField) }, { weight: 1, arbitrary: fc.constantFrom('files', 'file', 'info', 'other', '') }),
  });
  const infoBytes = fc.oneof(
    { weight: 6, arbitrary: r.info.map(jsonBytes) },
    { weight: 1, arbitrary: fc.tuple(r.info.map(jsonBytes), fc.constantFrom<'utf16le' | 'latin1' | 'bom'>('utf16le', 'latin1', 'bom')).map(([b, how]) => reencode(b, how)) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }) },
  );
  const shape: fc.Arbitrary<FormShape> = fc.record({
    infoFirst: fc.oneof({ weight: 6, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
    infoCount: fc.oneof({ weight: 8, arbitrary: fc.constant(1 as const) }, { weight: 1, arbitrary: fc.constantFrom(0 as const, 2 as const) }),
    infoBytes,
    infoContentType: rarely(fc.constantFrom('application/json', 'text/plain; charset=utf-16le', 'application/json; charset=latin1', 'garbage'), 5),
    files: fc.array(fileArb, { minLength: 0, maxLength: 4 }),
    boundaryInHeader: fc.oneof({ weight: 8, arbitrary: fc.constant('same' as const) }, { weight: 1, arbitrary: fc.constantFrom('other' as const, 'missing' as const, 'quoted' as const, 'empty' as const) }),
    final: fc.oneof({ weight: 6, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
    cutAt: rarely(fc.double({ min: 0, max: 1, noNaN: true }), 4),
    preamble: fc.boolean(),
  });
  return shape.map((s) => {
    const info: RawPart[] = Array.from({ length: s.infoCount }, () => ({ name: 'info', data: s.infoBytes, contentType: s.infoContentType }));
    const files: RawPart[] = s.files.map((f) => ({ name: f.field, filename: f.filename, data: filler(f.size, f.seed) }));
    let body = formBytes(s.infoFirst ? [...info, ...files] : [...files, ...info], BOUNDARY, s.final);
    if (s.preamble) body = cat('preamble garbage\r\n', body);
    if (s.cutAt !== undefined) body = body.subarray(0, Math.floor(body.length * s.cutAt));
    const ct = {
      same: `multipart/form-data; boundary=${BOUNDARY}`,
      other: 'multipart/form-data; boundary=somethingElse',
      missing: 'multipart/form-data',
      quoted: `multipart/form-data; boundary="${BOUNDARY}"`,
      empty: 'multipart/form-data; boundary=',
    }[s.boundaryInHeader];
    // The info claim holds only for a form that reaches its info part intact.
    const intact = s.cutAt === undefined && s.boundaryInHeader !== 'other' && s.boundaryInHeader !== 'missing' && s.boundaryInHeader !== 'empty' && s.infoCount > 0 && s.infoFirst && s.infoContentType === undefined;
    const broken = s.cutAt !== undefined || !s.final || s.boundaryInHeader === 'other' || s.boundaryInHeader === 'empty';
    return { body, contentType: ct, info: intact ? s.infoBytes : undefined, broken };
  });
}

const authArb: fc.Arbitrary<AuthVariant> = fc.oneof(
  { weight: 14, arbitrary: fc.constant('signed' as const) },
  { weight: 1, arbitrary: fc.constantFrom<AuthVariant>('unsigned', 'wrongSecret', 'unknownKey', 'badSignature', 'expired', 'future', 'wrongService', 'payloadMismatch', 'garbageAuthorization', 'presignedGarbage', 'headerAndPresigned') },
);

/** Header abuse added to a request (most requests get none). */
const headerAbuse = fc.oneof(
  { weight: 12, arbitrary: fc.constant({ headers: [] as Array<[string, string | Uint8Array]>, protocolAbuse: false, dupContentType: false }) },
  { weight: 1, arbitrary: fc.integer({ min: 1024, max: 12 * 1024 }).map((n) => ({ headers: [['x-fuzz-long', 'v'.repeat(n)]] as Array<[string, string | Uint8Array]>, protocolAbuse: false, dupContentType: false })) },
  // Past Node's 16 KiB header limit: the HTTP parser itself refuses it.
  { weight: 1, arbitrary: fc.integer({ min: 20 * 1024, max: 64 * 1024 }).map((n) => ({ headers: [['x-fuzz-huge', 'v'.repeat(n)]] as Array<[string, string | Uint8Array]>, protocolAbuse: true, dupContentType: false })) },
  { weight: 1, arbitrary: fc.integer({ min: 50, max: 400 }).map((n) => ({ headers: Array.from({ length: n }, (_, i) => [`x-fuzz-${i}`, String(i)]) as Array<[string, string | Uint8Array]>, protocolAbuse: false, dupContentType: false })) },
  { weight: 1, arbitrary: fc.constant({ headers: [] as Array<[string, string | Uint8Array]>, protocolAbuse: false, dupContentType: true }) },
  { weight: 1, arbitrary: badBytes.map((b) => ({ headers: [['x-fuzz-bytes', cat('a', b, 'z')]] as Array<[string, string | Uint8Array]>, protocolAbuse: true, dupContentType: false })) },
  { weight: 1, arbitrary: fc.constantFrom<Array<[string, string]>>([['transfer-encoding', 'chunked']], [['transfer-encoding', 'gzip']], [['content-encoding', 'gzip']], [['expect', '100-continue']], [['x-amz-content-sha256', 'garbage']], [['range', 'bytes=0-0']]).map((h) => ({ headers: h as Array<[string, string | Uint8Array]>, protocolAbuse: true, dupContentType: false })) },
);

const rangeHeader = rarely(fc.constantFrom('bytes=0-0', 'bytes=0-', 'bytes=-1', 'bytes=-0', 'bytes=5-2', 'bytes=a-b', 'bytes=0-1,2-3', 'items=0-1', 'bytes=99999999999999999999-', 'bytes=-99999999999999999999', 'bytes=', 'bytes=1-1000000'), 3);

const unknownPaths = fc.constantFrom('/v1', '/v1/', '/v1/bucket', '/v1/bucket/', '/v1/bucket/create/extra', '/v1/bucket/CREATE', '/v1/object/upload/', '/v1/nothing', '/v1/spaceSyncer/createTasks', '/v1/spaceSyncer/', '/v1//bucket/listAll', '/v1/./bucket/listAll', '/v1/bucket/../bucket/listAll', '/v2/bucket/listAll', '/', '/v1/%00', '/v1/%ff', '/v1/bucket/listAll%00', '/v1/userSpace');

/** One hostile request over any route (or none). */
export function fuzzCase(ctx: RouteContext): fc.Arbitrary<FuzzCase> {
  const all = routes(ctx);
  const perRoute = all.map((r) => routeCase(r, ctx));
  const unknown = fc
    .record({ path: unknownPaths, method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE', 'FOO'), body: fc.option(wildJson.map(jsonBytes), { nil: undefined }), auth: authArb })
    .map(({ path, method, body, auth }): FuzzCase => ({
      route: 'unknown',
      method,
      path,
      query: [],
      headers: body ? [['content-type', 'application/json']] : [],
      body,
      streamed: false,
      auth,
      // Node's HTTP parser itself refuses a method it does not know.
      protocolAbuse: method === 'FOO',
    }));
  // Known paths with the wrong method.
  const wrongMethod = fc
    .record({ r: fc.constantFrom(...all), method: fc.constantFrom('PUT', 'DELETE', 'PATCH', 'OPTIONS', 'GET', 'POST', 'HEAD'), auth: authArb })
    .filter(({ r, method }) => method !== (r.kind === 'query' ? 'GET' : 'POST') && !(r.kind === 'query' && method === 'HEAD'))
    .map(({ r, method, auth }): FuzzCase => ({ route: 'wrongMethod', method, path: r.path, query: [], headers: [], streamed: false, auth }));
  const framed = fc.tuple(fc.oneof({ weight: 24, arbitrary: fc.oneof(...perRoute) }, { weight: 2, arbitrary: unknown }, { weight: 1, arbitrary: wrongMethod }), headerAbuse, rarely(fc.constantFrom<'smaller' | 'larger' | 'end' | 'stall'>('smaller', 'larger', 'end', 'stall'), 12));
  return framed.map(([c, abuse, framing]) => {
    const headers = [...c.headers, ...abuse.headers];
    if (abuse.dupContentType) headers.push(['content-type', c.streamed ? 'application/json' : 'text/plain']);
    const out: FuzzCase = { ...c, headers, protocolAbuse: c.protocolAbuse || abuse.protocolAbuse };
    if (framing === 'smaller' || framing === 'larger') {
      out.lengthLie = framing;
      // The bytes past a short Content-Length are parsed as a next request: the HTTP parser may refuse them first.
      if (framing === 'smaller') out.protocolAbuse = true;
      if (framing === 'larger') out.after = 'stall';
    } else if (framing) out.after = framing;
    return out;
  });
}

function routeCase(r: Route, ctx: RouteContext): fc.Arbitrary<FuzzCase> {
  if (r.kind === 'json') {
    return fc
      .record({
        body: r.body.map(jsonBytes),
        ct: jsonContentType,
        recode: fc.oneof({ weight: 10, arbitrary: fc.constant('utf8' as const) }, { weight: 1, arbitrary: fc.constantFrom('utf16le' as const, 'latin1' as const, 'bom' as const) }),
        queryExtra: rarely(fc.tuple(fc.constantFrom('name', 'x', '\u0000'), qWild), 8),
        auth: authArb,
        noBody: fc.oneof({ weight: 20, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
      })
      .map(({ body, ct, recode, queryExtra, auth, noBody }): FuzzCase => ({
        route: r.path,
        method: 'POST',
        path: r.path,
        query: queryExtra ? [queryExtra] : [],
        headers: ct === '' ? [] : [['content-type', ct]],
        body: noBody ? undefined : reencode(body, recode),
        doc: noBody ? undefined : reencode(body, recode),
        streamed: false,
        auth,
        backendProbe: r.path === '/v1/userSpace/test',
      }));
  }
  if (r.kind === 'query') {
    const params = r.params.map(([k, v]) => fc.option(v.map((x) => [k, x] as [string, string | Uint8Array]), { nil: undefined, freq: 8 }));
    return fc
      .record({
        params: fc.tuple(...params),
        dup: rarely(fc.tuple(fc.constantFrom(...(r.params.length ? r.params.map(([k]) => k) : ['x'])), qWild), 6),
        raw: rarely(fc.constantFrom('%', '%zz', 'a=%', '=&=&', '&&&', '?', 'name=a+b', 'name=%2', 'objectID=1&objectID', '%00=%00'), 15),
        range: r.range ? rangeHeader : fc.constant(undefined),
        auth: authArb,
      })
      .map(({ params, dup, raw, range, auth }): FuzzCase => {
        const pairs = params.filter((p): p is [string, string | Uint8Array] => p !== undefined);
        if (dup) pairs.push(dup);
        return { route: r.path, method: 'GET', path: r.path, query: raw ? { raw } : pairs, headers: range ? [['range', range]] : [], streamed: false, auth };
      });
  }
  return fc.record({ form: formCase(r, ctx), auth: authArb, signBody: fc.oneof({ weight: 6, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }) }).map(
    ({ form, auth, signBody }): FuzzCase => ({
      route: r.path,
      method: 'POST',
      path: r.path,
      query: [],
      headers: [['content-type', form.contentType]],
      body: form.body,
      doc: form.info,
      mayClose: form.broken,
      // Mostly streamed (UNSIGNED-PAYLOAD) as clients do; sometimes the whole body's hash is signed.
      streamed: !signBody,
      auth,
    }),
  );
}
