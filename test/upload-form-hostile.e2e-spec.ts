import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { STATUS_OF_CODE, filesUnder } from './support/contract.js';
import { startGatewayProcess, type GatewayProcess } from './support/gateway-process.js';
import { startTestGateway, type Tenant, type TestGateway } from './support/gateway.js';
import { newPackage } from './support/objects.js';
import { buildForm, rawRequest, signedHeaders, type BuiltForm, type RawOutcome, type RawPart } from './support/raw-http.js';
import type { SignedClient } from './support/signed-client.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A response that is a contract envelope whose status is its code's, and not a 5xx. */
function expectEnvelope(o: RawOutcome): { code: string; data: any } {
  if (o.kind !== 'response') throw new Error(`expected a response, got ${o.kind}`);
  expect(o.status).toBeLessThan(500);
  const env = JSON.parse(o.body.toString('utf8'));
  expect(Object.keys(env).sort()).toEqual(['code', 'data', 'message']);
  expect(STATUS_OF_CODE[env.code]).toContain(o.status);
  if (env.code !== 'OK') expect(env.data).toBeNull();
  return env;
}

/**
 * For a client that went away (half-closed its side mid-body): no answer at all, or Node's own bare
 * `400 Bad Request` (no body) for the broken request, or a BadArgument envelope. All mean "refused".
 */
function expectRefusedOrClosed(o: RawOutcome) {
  expect(o.kind).not.toBe('timeout');
  if (o.kind !== 'response') return;
  if (o.status === 400 && o.body.length === 0 && !o.headers['content-type']) return;
  expect(expectEnvelope(o).code).toBe('BadArgument');
}

/** info first, then five file parts of a few KiB each. */
function fivePartForm(info: unknown, prefix: string): BuiltForm {
  const parts: RawPart[] = [{ name: 'info', data: Buffer.from(JSON.stringify(info)) }];
  for (let i = 1; i <= 5; i++) parts.push({ name: 'files', filename: encodeURIComponent(`${prefix}/${i}.bin`), data: randomBytes(3000 + i * 700) });
  return buildForm(parts);
}

/** Where to cut the five-part form: part indexes count the info part as 0. */
const CUTS: Array<[string, (f: BuiltForm) => number]> = [
  ['inside the content of file part 2', (f) => f.parts[2]!.contentStart + 1000],
  ['between file parts 2 and 3', (f) => f.parts[3]!.start],
  ['inside the headers of file part 3', (f) => f.parts[3]!.start + f.boundary.length + 20],
  ['before the final boundary', (f) => f.closing],
];

async function postForm(client: SignedClient, baseUrl: string, route: string, form: { body: Buffer; contentType: string }, cut: number, clientGone: boolean) {
  const headers = await signedHeaders(client, route, { 'content-type': form.contentType });
  return rawRequest(baseUrl, {
    path: route,
    headers,
    body: form.body.subarray(0, cut),
    // The body ends early either way: declared as what is sent (the form itself is cut short) or as the
    // whole form with the client then closing its side (a client gone mid-upload).
    declaredLength: clientGone ? form.body.length : cut,
  });
}

describe('upload form reader under hostile input', () => {
  let gw: TestGateway;
  let t: Tenant;
  let pkg: number;

  beforeAll(async () => {
    gw = await startTestGateway({ JCS_MAX_FILES_PER_UPLOAD: '20', JCS_MAX_OBJECT_SIZE: String(1024 * 1024) });
    t = await gw.tenant();
    pkg = await newPackage(t);
  });
  afterAll(async () => gw?.stop());

  const shardsDir = (tn: Tenant) => path.join(gw.dataDir, 'tenants', String(tn.userID), 'shards');
  const objectsOf = async (tn: Tenant) => Number((await gw.sql('SELECT count(*)::int AS n FROM objects WHERE user_id = $1', [tn.userID]))[0].n);

  /** After the request: no object, and (once the gateway has cleaned up) no shard or temp file. */
  async function expectNothingKept(tn: Tenant) {
    for (let i = 0; i < 100 && filesUnder(shardsDir(tn)).length > 0; i++) await sleep(100);
    expect(filesUnder(shardsDir(tn))).toEqual([]);
    expect(await objectsOf(tn)).toBe(0);
  }

  async function expectAlive(client: SignedClient) {
    const res = await client.get('/v1/bucket/listAll');
    expect([res.status, res.body.code]).toEqual([200, 'OK']);
  }

  describe.each([
    ['the form ends early', false],
    ['the client goes away', true],
  ])('a five-file upload cut short: %s', (_label, clientGone) => {
    it.each(CUTS)('cut %s: BadArgument or a closed connection, nothing kept, still serving', async (_where, cutAt) => {
      const form = fivePartForm({ packageID: pkg }, 'cut');
      const outcome = await postForm(t.client, gw.url, '/v1/object/upload', form, cutAt(form), clientGone);
      if (clientGone) expectRefusedOrClosed(outcome);
      else expect(expectEnvelope(outcome).code).toBe('BadArgument');
      await expectNothingKept(t);
      await expectAlive(t.client);
    });
  });

  it('a complete five-file form (the same shape) is stored', async () => {
    const other = await gw.tenant();
    const otherPkg = await newPackage(other);
    const form = fivePartForm({ packageID: otherPkg }, 'whole');
    const env = expectEnvelope(await postForm(other.client, gw.url, '/v1/object/upload', form, form.body.length, false));
    expect(env.code).toBe('OK');
    expect(env.data.uploadeds.map((o: any) => o.path)).toEqual([1, 2, 3, 4, 5].map((i) => `whole/${i}.bin`));
  });

  it('an uploadPart form cut inside its file: BadArgument, no part recorded', async () => {
    const obj = (await t.client.post('/v1/object/newMultipartUpload', { packageID: pkg, path: 'mp/cut' })).body.data.object;
    const form = buildForm([
      { name: 'info', data: Buffer.from(JSON.stringify({ objectID: obj.objectID, index: 0 })) },
      { name: 'file', filename: 'part', data: randomBytes(50_000) },
    ]);
    expect(expectEnvelope(await postForm(t.client, gw.url, '/v1/object/uploadPart', form, form.parts[1]!.contentStart + 20_000, false)).code).toBe(
      'BadArgument',
    );
    expect(await gw.sql('SELECT * FROM multipart_parts WHERE object_id = $1', [obj.objectID])).toEqual([]);
    await t.client.post('/v1/object/delete', { objectIDs: [obj.objectID] });
    await expectNothingKept(t);
  });

  it.each([
    ['a field', undefined],
    ['a file part', 'info.json'],
  ])('refuses a deeply nested info sent as %s (BadArgument)', async (_l, filename) => {
    const deep = '{"packageID":1,"x":' + '['.repeat(5000) + ']'.repeat(5000) + '}';
    const form = buildForm([
      { name: 'info', filename, data: Buffer.from(deep) },
      { name: 'files', filename: 'deep', data: Buffer.from('x') },
    ]);
    const env = expectEnvelope(await postForm(t.client, gw.url, '/v1/object/upload', form, form.body.length, false));
    expect(env.code).toBe('BadArgument');
    await expectNothingKept(t);
  });

  it('accepts info sent as a file part, and refuses one larger than 64 KiB', async () => {
    const other = await gw.tenant();
    const otherPkg = await newPackage(other);
    const ok = buildForm([
      { name: 'info', filename: 'info.json', data: Buffer.from(JSON.stringify({ packageID: otherPkg })) },
      { name: 'files', filename: 'as-file', data: Buffer.from('x') },
    ]);
    expect(expectEnvelope(await postForm(other.client, gw.url, '/v1/object/upload', ok, ok.body.length, false)).code).toBe('OK');
    const big = buildForm([
      { name: 'info', filename: 'info.json', data: Buffer.from(JSON.stringify({ packageID: otherPkg, pad: 'x'.repeat(70_000) })) },
      { name: 'files', filename: 'as-file-big', data: Buffer.from('x') },
    ]);
    const env = expectEnvelope(await postForm(other.client, gw.url, '/v1/object/upload', big, big.body.length, false));
    expect(env.code).toBe('BadArgument');
  });

  const info = () => ({ name: 'info', data: Buffer.from(JSON.stringify({ packageID: pkg })) });
  const file = (name: string, size = 10) => ({ name: 'files', filename: name, data: randomBytes(size) });
  it.each<[string, () => RawPart[], string, number]>([
    ['an info field over 64 KiB', () => [{ name: 'info', data: Buffer.from(JSON.stringify({ packageID: pkg, pad: 'x'.repeat(70_000) })) }, file('f')], 'BadArgument', 400],
    ['two info fields', () => [info(), info(), file('f')], 'BadArgument', 400],
    ['an info file part after a file', () => [info(), file('f'), { name: 'info', filename: 'i.json', data: Buffer.from('{}') }], 'BadArgument', 400],
    ['a file part without a filename', () => [info(), file('f'), { name: 'files', filename: '', data: Buffer.from('x') }], 'BadArgument', 400],
    ['17 fields', () => [info(), ...Array.from({ length: 16 }, (_, i) => ({ name: `x${i}`, data: Buffer.from('1') })), file('f')], 'BadArgument', 400],
    ['21 files (the limit is 20)', () => [info(), ...Array.from({ length: 21 }, (_, i) => file(`many${i}`))], 'BadArgument', 400],
    ['a file over JCS_MAX_OBJECT_SIZE between two others', () => [info(), file('a', 5000), file('huge', 3 * 1024 * 1024), file('b', 5000)], 'QuotaExceeded', 413],
  ])('%s: the contract error, nothing kept', async (_l, parts, code, status) => {
    const form = buildForm(parts());
    const outcome = await postForm(t.client, gw.url, '/v1/object/upload', form, form.body.length, false);
    expect(expectEnvelope(outcome).code).toBe(code);
    expect(outcome.kind === 'response' && outcome.status).toBe(status);
    await expectNothingKept(t);
  });

  it('a part over JCS_MAX_OBJECT_SIZE in uploadPart is QuotaExceeded, no part recorded', async () => {
    const obj = (await t.client.post('/v1/object/newMultipartUpload', { packageID: pkg, path: 'mp/huge' })).body.data.object;
    const form = buildForm([
      { name: 'info', data: Buffer.from(JSON.stringify({ objectID: obj.objectID, index: 0 })) },
      { name: 'file', filename: 'part', data: randomBytes(2 * 1024 * 1024) },
    ]);
    expect(expectEnvelope(await postForm(t.client, gw.url, '/v1/object/uploadPart', form, form.body.length, false)).code).toBe('QuotaExceeded');
    expect(await gw.sql('SELECT * FROM multipart_parts WHERE object_id = $1', [obj.objectID])).toEqual([]);
    await t.client.post('/v1/object/delete', { objectIDs: [obj.objectID] });
    await expectNothingKept(t);
  });

  it('uploadPart with a signed payload hash the body does not match: Unauthorized, no part, no shard', async () => {
    const obj = (await t.client.post('/v1/object/newMultipartUpload', { packageID: pkg, path: 'mp/signed' })).body.data.object;
    const form = buildForm([
      { name: 'info', data: Buffer.from(JSON.stringify({ objectID: obj.objectID, index: 0 })) },
      { name: 'file', filename: 'part', data: Buffer.from('the signed part bytes') },
    ]);
    const { init } = await t.client.signedRequest({ method: 'POST', path: '/v1/object/uploadPart', body: form.body, headers: { 'content-type': form.contentType } });
    const tampered = Buffer.from(form.body.toString('latin1').replace('signed part', 'SIGNED PART'), 'latin1');
    const outcome = await rawRequest(gw.url, { path: '/v1/object/uploadPart', headers: init.headers as Record<string, string>, body: tampered });
    expect(expectEnvelope(outcome).code).toBe('Unauthorized');
    expect(outcome.kind === 'response' && outcome.status).toBe(401);
    expect(await gw.sql('SELECT * FROM multipart_parts WHERE object_id = $1', [obj.objectID])).toEqual([]);
    await t.client.post('/v1/object/delete', { objectIDs: [obj.objectID] });
    await expectNothingKept(t);
  });

  it('a body that is not multipart, or a multipart type without a boundary: BadArgument', async () => {
    for (const contentType of ['text/plain', 'multipart/form-data', 'multipart/mixed; boundary=x']) {
      const outcome = await postForm(t.client, gw.url, '/v1/object/upload', { body: Buffer.from('--x\r\n\r\n'), contentType }, 7, false);
      expect({ contentType, code: expectEnvelope(outcome).code }).toEqual({ contentType, code: 'BadArgument' });
    }
  });

  it('300 random malformed forms: never a 5xx, never an unanswered complete request, nothing kept but what was answered OK', async () => {
    const fz = await gw.tenant();
    const fzPkg = await newPackage(fz);
    const mp = (await fz.client.post('/v1/object/newMultipartUpload', { packageID: fzPkg, path: 'fuzz/mp' })).body.data.object;
    const seed = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
    // Printed so a failure replays: FUZZ_SEED=<seed>.
    process.stdout.write(`upload-form-hostile fuzz seed: ${seed}\n`);

    // Weighted towards forms that are nearly right, so the deep paths (staging, discarding) run too.
    const often = <T>(a: fc.Arbitrary<T>, weight = 6) => ({ arbitrary: a, weight });
    const chance = (percent: number) => fc.integer({ min: 0, max: 99 }).map((n) => n < percent);
    const infoArb = fc.oneof(
      often(fc.constant('VALID'), 12),
      fc.constant('{"packageID":' + '['.repeat(200) + ']'.repeat(200) + '}'),
      fc.constant('{"packageID":"1"}'),
      fc.constant('{"packageID":1,"s":"a\\u0000b"}'),
      fc.constant('{"packageID":1,"s":"\\ud800"}'),
      fc.constant('{"packageID":1e400}'),
      fc.constant('[]'),
      fc.string({ maxLength: 40 }),
      fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b).toString('latin1')),
    );
    const filenameArb = fc.oneof(
      often(fc.constant('OK'), 20),
      fc.constant('a%00b'),
      fc.constant('%ZZ'),
      fc.constant('..%2Fx'),
      fc.constant(''),
      fc.string({ maxLength: 20 }).map((s) => s.replace(/["\r\n]/g, '_')),
    );
    const mutationArb = fc.oneof(
      fc.record({ kind: fc.constant('truncate' as const), at: fc.double({ min: 0, max: 1, noNaN: true }) }),
      fc.record({ kind: fc.constant('flip' as const), at: fc.double({ min: 0, max: 1, noNaN: true }), byte: fc.integer({ min: 0, max: 255 }) }),
      fc.record({ kind: fc.constant('insert' as const), at: fc.double({ min: 0, max: 1, noNaN: true }), bytes: fc.uint8Array({ maxLength: 48 }) }),
      fc.record({ kind: fc.constant('delete' as const), at: fc.double({ min: 0, max: 1, noNaN: true }), len: fc.integer({ min: 1, max: 48 }) }),
      fc.record({ kind: fc.constant('crlf' as const), at: fc.double({ min: 0, max: 1, noNaN: true }) }),
    );
    const caseArb = fc.record({
      route: fc.constantFrom('/v1/object/upload', '/v1/object/uploadPart'),
      info: infoArb,
      infoAsFile: chance(20),
      infoLast: chance(10),
      files: fc.array(
        fc.record({
          name: fc.oneof(often(fc.constantFrom('files', 'file'), 20), fc.constantFrom('info', 'x')),
          filename: filenameArb,
          size: fc.integer({ min: 0, max: 40_000 }),
        }),
        { maxLength: 6 },
      ),
      extraHeaders: fc.array(fc.constantFrom('Content-Type: text/plain; charset=utf-16le', 'X-Junk: ' + 'y'.repeat(300), 'Content-Transfer-Encoding: base64'), {
        maxLength: 2,
      }),
      contentType: fc.oneof(often(fc.constant('good'), 25), fc.constantFrom('no-boundary', 'other-boundary', 'empty-boundary', 'latin1', 'text/plain')),
      mutations: fc.oneof(often(fc.constant([]), 2), fc.array(mutationArb, { minLength: 1, maxLength: 3 })),
      clientGone: chance(15),
    });

    const okPaths = new Set<string>();
    const tally: Record<string, number> = {};
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(caseArb, async (c) => {
        runs++;
        const info = c.info === 'VALID' ? JSON.stringify(c.route === '/v1/object/upload' ? { packageID: fzPkg } : { objectID: mp.objectID, index: runs % 4 }) : c.info;
        const infoPart: RawPart = { name: 'info', filename: c.infoAsFile ? 'info.json' : undefined, data: Buffer.from(info, 'latin1') };
        const fileParts: RawPart[] = c.files.map((f, i) => ({
          name: f.name,
          filename: f.filename === 'OK' ? `fuzz%2F${runs}-${i}` : f.filename,
          data: randomBytes(f.size),
          headers: i === 0 && c.extraHeaders.length ? ['Content-Type: application/octet-stream', ...c.extraHeaders] : undefined,
        }));
        const form = buildForm(c.infoLast ? [...fileParts, infoPart] : [infoPart, ...fileParts]);
        let body = form.body;
        for (const m of c.mutations) {
          const at = Math.floor(m.at * body.length);
          if (m.kind === 'truncate') body = body.subarray(0, at);
          else if (m.kind === 'flip') body = Buffer.concat([body.subarray(0, at), Buffer.from([m.byte]), body.subarray(at + 1)]);
          else if (m.kind === 'insert') body = Buffer.concat([body.subarray(0, at), Buffer.from(m.bytes), body.subarray(at)]);
          else if (m.kind === 'delete') body = Buffer.concat([body.subarray(0, at), body.subarray(at + m.len)]);
          else body = Buffer.concat([body.subarray(0, at), Buffer.from('\r\n'), body.subarray(at)]);
        }
        const contentType = {
          good: form.contentType,
          'no-boundary': 'multipart/form-data',
          'other-boundary': 'multipart/form-data; boundary=nothere',
          'empty-boundary': 'multipart/form-data; boundary=""',
          latin1: `${form.contentType}; charset=latin1`,
          'text/plain': 'text/plain',
        }[c.contentType];
        const headers = await signedHeaders(fz.client, c.route, { 'content-type': contentType });
        const outcome = await rawRequest(gw.url, { path: c.route, headers, body, declaredLength: c.clientGone ? body.length + 1 : body.length });
        expect(outcome.kind).not.toBe('timeout');
        // Only a client that went away may be left without an answer (or Node's bare 400).
        if (c.clientGone && (outcome.kind === 'closed' || (outcome.kind === 'response' && outcome.body.length === 0))) {
          tally.closed = (tally.closed ?? 0) + 1;
          return expectRefusedOrClosed(outcome);
        }
        const env = expectEnvelope(outcome);
        tally[env.code] = (tally[env.code] ?? 0) + 1;
        if (env.code === 'OK' && c.route === '/v1/object/upload') for (const o of env.data.uploadeds) okPaths.add(o.path);
        if (runs % 50 === 0) await expectAlive(fz.client);
      }),
      { seed, numRuns: 300, endOnFailure: true },
    );
    process.stdout.write(`upload-form-hostile fuzz outcomes: ${JSON.stringify(tally)}\n`);
    await expectAlive(fz.client);
    // Nothing but what was answered OK was committed (the open multipart upload is the one other object).
    const rows = await gw.sql<{ path: string }>('SELECT path FROM objects WHERE user_id = $1 AND path <> $2 ORDER BY path', [fz.userID, 'fuzz/mp']);
    expect(rows.map((r) => r.path)).toEqual([...okPaths].sort());
    const tmp = path.join(shardsDir(fz), 'tmp');
    for (let i = 0; i < 100 && filesUnder(tmp).length > 0; i++) await sleep(100);
    expect(filesUnder(tmp)).toEqual([]);
  }, 600_000);
});

describe('upload form reader: the real gateway process survives cut-short forms', () => {
  let proc: GatewayProcess;
  beforeAll(async () => {
    proc = await startGatewayProcess({ JCS_MAX_FILES_PER_UPLOAD: '20' });
  });
  afterAll(async () => proc?.stop());

  it('answers cut-short five-file forms and still serves signed requests afterwards', async () => {
    const bucket = (await proc.admin.post('/v1/bucket/create', { name: 'hostile' })).body.data.bucket;
    const p = (await proc.admin.post('/v1/package/create', { bucketID: bucket.bucketID, name: 'p' })).body.data.package;
    for (const [, cutAt] of CUTS) {
      for (const clientGone of [false, true]) {
        const form = fivePartForm({ packageID: p.packageID }, 'proc');
        const outcome = await postForm(proc.admin, proc.url, '/v1/object/upload', form, cutAt(form), clientGone);
        if (clientGone) expectRefusedOrClosed(outcome);
        else expect(expectEnvelope(outcome).code).toBe('BadArgument');
      }
    }
    await sleep(500); // a crash from a late stream error would show up by now
    expect(proc.child.exitCode).toBeNull();
    const listed = await proc.admin.get('/v1/object/getPackageObjects', { packageID: p.packageID });
    expect([listed.status, listed.body.code, listed.body.data.objects]).toEqual([200, 'OK', []]);
    const form = fivePartForm({ packageID: p.packageID }, 'after');
    expect(expectEnvelope(await postForm(proc.admin, proc.url, '/v1/object/upload', form, form.body.length, false)).code).toBe('OK');
  });
});
