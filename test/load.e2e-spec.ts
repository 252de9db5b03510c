import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { GarbageCollector } from '#garbage-collector';
import { startTestGateway, type Tenant, type TestGateway } from './support/gateway.js';
import { download, newPackage, uploadFiles } from './support/objects.js';

/**
 * Load: 64 clients for LOAD_SECONDS (30 in CI) mixing single and batch uploads (overwrites), full and
 * ranged downloads, clones, moves, deletes and listings on a few overlapping paths, while the
 * collector runs every second at grace 0. Checks: no 5xx ever; every download is byte-exact ONE
 * version; the final state is one the answered operations allow (see `allowedFinal`).
 *
 * Paths: uploads write `a/<i>`; clones and moves go only from `a/<i>` to `b/<i>`, so the versions
 * that can reach a path stay known. Every body is self-describing: a 32-byte header (magic + version
 * id) and then AES-CTR keystream bytes keyed by the id, so a body (or a range of one) is checked
 * against exactly one version without keeping the bytes in memory.
 */
const SECONDS = Number(process.env.LOAD_SECONDS ?? 30);
const CLIENTS = 64;
const SLOTS = 6;
const MAGIC = Buffer.from('JCSLOAD1');

interface Version {
  id: string;
  size: number;
  fileHash: string;
}

function versionBytes(id: string, size: number): Buffer {
  const key = createHash('sha256').update(id).digest().subarray(0, 16);
  const body = createCipheriv('aes-128-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(size));
  const header = Buffer.concat([MAGIC, Buffer.from(id, 'hex')]); // 8 + 24 bytes
  header.copy(body, 0, 0, Math.min(size, header.length));
  return body;
}

/** A state-changing operation on one path, with when it was sent and when its answer was read. */
interface Effect {
  sent: number;
  answered: number;
  /** A definite effect surely happened (an OK upload, a successful move or clone); a delete may be a no-op. */
  definite: boolean;
  /** What the path holds right after the effect: absent, one of these versions, or any version uploaded to `a/<i>`. */
  result: { kind: 'absent' } | { kind: 'versions'; ids: string[] } | { kind: 'anyOfA'; slot: number };
}

describe('load: 64 clients, GC every second at grace 0', () => {
  let gw: TestGateway;
  let t: Tenant;
  let pkg: number;

  beforeAll(async () => {
    // Read grace 10 s (not the default 300): shards unreferenced for 10 s really go during the run,
    // while every read here lasts far less (and longer ones would keep their shards alive).
    gw = await startTestGateway({ JCS_GC_GRACE_SECONDS: '0', JCS_GC_READ_GRACE_SECONDS: '10' });
    t = await gw.tenant();
    pkg = await newPackage(t);
  });
  afterAll(async () => gw?.stop());

  it(
    'no 5xx, every download one committed version, final state allowed by the answers',
    async () => {
      const versions = new Map<string, Version>(); // id → version; registered before the upload is sent
      const byHash = new Map<string, Version>();
      const effects = new Map<string, Effect[]>(); // path → effects
      const uploadedToA = Array.from({ length: SLOTS }, () => new Set<string>());
      const knownIds = Array.from({ length: SLOTS }, () => new Set<number>());
      const problems: string[] = [];
      const counts: Record<string, number> = {};
      const count = (k: string) => void (counts[k] = (counts[k] ?? 0) + 1);
      const pick = <T>(xs: T[]): T => xs[Math.floor(Math.random() * xs.length)]!;
      const addEffect = (path: string, e: Effect) => effects.set(path, [...(effects.get(path) ?? []), e]);

      const newVersion = (slot: number): Version => {
        const id = randomBytes(12).toString('hex');
        // Never below the 32-byte header: every version's bytes (and so its hash) must be its own.
        const size = Math.random() < 0.05 ? 32 : 32 + Math.floor(Math.random() * 48 * 1024);
        const v = { id, size, fileHash: 'Full' + createHash('sha256').update(versionBytes(id, size)).digest('hex').toUpperCase() };
        versions.set(id, v);
        byHash.set(v.fileHash, v);
        uploadedToA[slot]!.add(id);
        return v;
      };

      /** Checks an answer's status: 2xx, or one of the contract errors this op may meet. */
      const expectStatus = (what: string, status: number, body: unknown, allowed: number[]) => {
        if (status >= 500 || !allowed.includes(status)) problems.push(`${what}: HTTP ${status} ${JSON.stringify(body).slice(0, 300)}`);
      };

      /** A full or ranged body must be exactly (a slice of) the version its ETag names. */
      const checkBody = (what: string, etag: string | null, bytes: Buffer, range?: { start: number; total: number }) => {
        const v = byHash.get((etag ?? '').replace(/"/g, ''));
        if (!v) return void problems.push(`${what}: ETag ${etag} is no version that was uploaded`);
        const all = versionBytes(v.id, v.size);
        const expected = range ? all.subarray(range.start, range.start + bytes.length) : all;
        if (range && range.total !== v.size) problems.push(`${what}: Content-Range total ${range.total}, version has ${v.size}`);
        if (!expected.equals(bytes) || (!range && bytes.length !== v.size)) problems.push(`${what}: bytes are not version ${v.id}`);
      };

      const ops: Array<[number, () => Promise<void>]> = [
        [
          25,
          async () => {
            const slot = Math.floor(Math.random() * SLOTS);
            const v = newVersion(slot);
            const sent = performance.now();
            const res = await uploadFiles(t, pkg, [[`a/${slot}`, versionBytes(v.id, v.size)]]);
            const answered = performance.now();
            expectStatus('upload', res.status, res.body, [200]);
            if (res.status === 200) {
              knownIds[slot]!.add(res.body.data.uploadeds[0].objectID);
              addEffect(`a/${slot}`, { sent, answered, definite: true, result: { kind: 'versions', ids: [v.id] } });
            }
            count('upload');
          },
        ],
        [
          10,
          async () => {
            const slots = [...new Set(Array.from({ length: 2 + Math.floor(Math.random() * 3) }, () => Math.floor(Math.random() * SLOTS)))];
            const vs = slots.map((s) => newVersion(s));
            const sent = performance.now();
            const res = await uploadFiles(t, pkg, slots.map((s, k) => [`a/${s}`, versionBytes(vs[k]!.id, vs[k]!.size)] as [string, Buffer]));
            const answered = performance.now();
            expectStatus('batch upload', res.status, res.body, [200]);
            if (res.status === 200)
              slots.forEach((s, k) => {
                knownIds[s]!.add(res.body.data.uploadeds[k].objectID);
                addEffect(`a/${s}`, { sent, answered, definite: true, result: { kind: 'versions', ids: [vs[k]!.id] } });
              });
            count('batch');
          },
        ],
        [
          22,
          async () => {
            const path = `${pick(['a', 'b'])}/${Math.floor(Math.random() * SLOTS)}`;
            const got = await download(t, { packageID: pkg, path }, {}, 'downloadByPath');
            expectStatus(`download ${path}`, got.status, got.bytes.toString('utf8', 0, 200), [200, 404]);
            if (got.status === 200) checkBody(`download ${path}`, got.headers.get('etag'), got.bytes);
            count('download');
          },
        ],
        [
          10,
          async () => {
            const path = `${pick(['a', 'b'])}/${Math.floor(Math.random() * SLOTS)}`;
            const start = Math.floor(Math.random() * 40 * 1024);
            const got = await download(t, { packageID: pkg, path }, { range: `bytes=${start}-${start + Math.floor(Math.random() * 8192)}` }, 'downloadByPath');
            expectStatus(`ranged ${path}`, got.status, got.bytes.toString('utf8', 0, 200), [206, 404, 416]);
            if (got.status === 206) {
              const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(got.headers.get('content-range') ?? '');
              if (!m || Number(m[1]) !== start) problems.push(`ranged ${path}: Content-Range ${got.headers.get('content-range')}`);
              else checkBody(`ranged ${path}`, got.headers.get('etag'), got.bytes, { start, total: Number(m[3]) });
            }
            count('ranged');
          },
        ],
        [
          8,
          async () => {
            const slot = Math.floor(Math.random() * SLOTS);
            const id = pick([...knownIds[slot]!]);
            if (id === undefined) return;
            const sent = performance.now();
            const res = await t.client.post('/v1/object/clone', { clonings: [{ objectID: id, newPath: `b/${slot}`, newPackageID: pkg }] });
            const answered = performance.now();
            expectStatus('clone', res.status, res.body, [200]);
            const obj = res.body.data?.objects?.[0];
            if (obj) {
              const v = byHash.get(obj.fileHash);
              if (!v || !uploadedToA[slot]!.has(v.id) || Number(obj.size) !== v.size) problems.push(`clone: answered ${JSON.stringify(obj)}, no version of a/${slot}`);
              knownIds[slot]!.add(obj.objectID);
              addEffect(`b/${slot}`, { sent, answered, definite: true, result: { kind: 'versions', ids: v ? [v.id] : [] } });
            }
            count('clone');
          },
        ],
        [
          7,
          async () => {
            const slot = Math.floor(Math.random() * SLOTS);
            const id = pick([...knownIds[slot]!]);
            if (id === undefined) return;
            const sent = performance.now();
            const res = await t.client.post('/v1/object/move', { movings: [{ objectID: id, packageID: pkg, path: `b/${slot}` }] });
            const answered = performance.now();
            expectStatus('move', res.status, res.body, [200]);
            if (res.body.data?.successes?.includes(id)) {
              // The ID may have been at a/<slot> (moved out) or already at b/<slot> (moved onto itself).
              addEffect(`a/${slot}`, { sent, answered, definite: false, result: { kind: 'absent' } });
              addEffect(`b/${slot}`, { sent, answered, definite: true, result: { kind: 'anyOfA', slot } });
            }
            count('move');
          },
        ],
        [
          8,
          async () => {
            const slot = Math.floor(Math.random() * SLOTS);
            const id = pick([...knownIds[slot]!]);
            if (id === undefined) return;
            const sent = performance.now();
            const res = await t.client.post('/v1/object/delete', { objectIDs: [id] });
            const answered = performance.now();
            expectStatus('delete', res.status, res.body, [200]);
            for (const p of [`a/${slot}`, `b/${slot}`]) addEffect(p, { sent, answered, definite: false, result: { kind: 'absent' } });
            count('delete');
          },
        ],
        [
          10,
          async () => {
            const res = await t.client.get('/v1/object/listByPath', { packageID: pkg, path: '', isPrefix: true, maxKeys: 1000 });
            expectStatus('list', res.status, res.body, [200]);
            for (const o of res.body.data?.objects ?? []) {
              const v = byHash.get(o.fileHash);
              if (!v || Number(o.size) !== v.size) problems.push(`list: ${o.path} has ${o.size} bytes, hash ${o.fileHash}: no version`);
            }
            count('list');
          },
        ],
      ];
      const totalWeight = ops.reduce((s, [w]) => s + w, 0);
      const randomOp = () => {
        let r = Math.random() * totalWeight;
        for (const [w, op] of ops) if ((r -= w) < 0) return op;
        return ops[0]![1];
      };

      const gc = gw.app.get(GarbageCollector);
      let stop = false;
      let gcRuns = 0;
      let removedShards = 0;
      const gcLoop = (async () => {
        while (!stop) {
          const report = await gc.run();
          gcRuns++;
          removedShards += report.removedShards;
          if (report.errors) problems.push(`gc: ${JSON.stringify(report)}`);
          await new Promise((r) => setTimeout(r, 1000));
        }
      })();

      const end = Date.now() + SECONDS * 1000;
      await Promise.all(
        Array.from({ length: CLIENTS }, async () => {
          while (Date.now() < end && problems.length < 50) {
            await randomOp()().catch((e: Error) => void problems.push(`request failed: ${e.message}`));
          }
        }),
      );
      stop = true;
      await gcLoop;

      // Final state: every path holds (or lacks) what some not-superseded effect on it left there.
      const allowedFinal = (path: string, slot: number): { absent: boolean; ids: Set<string> } => {
        const list = effects.get(path) ?? [];
        // An effect is superseded when a definite effect on the path was sent after it was answered:
        // that one surely committed later. The final state is the result of the last effect to commit,
        // which no definite effect supersedes (or the initial absence, if none is definite).
        const live = list.filter((e) => !list.some((o) => o.definite && o.sent > e.answered));
        const out = { absent: !list.some((e) => e.definite) || live.some((e) => e.result.kind === 'absent'), ids: new Set<string>() };
        for (const e of live) {
          if (e.result.kind === 'versions') e.result.ids.forEach((id) => out.ids.add(id));
          if (e.result.kind === 'anyOfA') uploadedToA[slot]!.forEach((id) => out.ids.add(id));
        }
        return out;
      };
      for (let slot = 0; slot < SLOTS; slot++) {
        for (const path of [`a/${slot}`, `b/${slot}`]) {
          const allowed = allowedFinal(path, slot);
          const got = await download(t, { packageID: pkg, path }, {}, 'downloadByPath');
          if (got.status === 404) {
            if (!allowed.absent) problems.push(`final: ${path} is absent, but an answered write must have left a version there`);
            continue;
          }
          const v = byHash.get((got.headers.get('etag') ?? '').replace(/"/g, ''));
          checkBody(`final ${path}`, got.headers.get('etag'), got.bytes);
          if (!v || !allowed.ids.has(v.id)) problems.push(`final: ${path} holds ${v?.id ?? 'an unknown version'}, not one the answers allow`);
        }
      }

      // The collector really worked during the run; the counts help reading a failure.
      // (Shards go 10 s after they are doomed: a run of 20 s or more must have removed some.)
      expect({ problems: problems.slice(0, 20), gcRan: gcRuns > 0, removed: SECONDS < 20 || removedShards > 0 }).toEqual({
        problems: [],
        gcRan: true,
        removed: true,
      });
      for (const k of ['upload', 'batch', 'download', 'ranged', 'clone', 'move', 'delete', 'list']) expect(counts[k] ?? 0).toBeGreaterThan(0);
    },
    (SECONDS + 240) * 1000,
  );
});
