import { describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { summariseProfile } from './profile.js';

const frame = (id: number, functionName: string, url: string, children: number[] = []) => ({
  id,
  callFrame: { functionName, url, lineNumber: 0, columnNumber: 0 },
  children,
});

/**
 * A hand-made V8 profile: a socket `writev` (native) under Node's stream internals under pg, a pg
 * frame of its own, an HTTP parser callback of Node's with nothing above it, and idle time.
 */
const PROFILE = {
  nodes: [
    frame(1, '(root)', '', [2, 6, 7]),
    frame(2, 'query', 'file:///w/node_modules/pg/lib/client.js', [3]),
    frame(3, 'writevGeneric', 'node:internal/stream_base_commons', [4]),
    frame(4, 'writev', ''),
    frame(6, '(idle)', ''),
    frame(7, 'parserOnHeadersComplete', 'node:_http_common'),
  ],
  startTime: 0,
  endTime: 10_000,
  // Each sample stands for the delta to the next one: writev 4 ms, pg 1 ms, node:_http_common 2 ms, idle 3 ms.
  samples: [4, 4, 2, 7, 6, 4],
  timeDeltas: [0, 2000, 2000, 1000, 2000, 3000, 0],
};

describe('summariseProfile', () => {
  it('charges native and Node-internal time to the package that called it', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'bench-profile-'));
    try {
      const file = path.join(dir, 'p.cpuprofile');
      writeFileSync(file, JSON.stringify(PROFILE));
      const s = summariseProfile(file);
      expect(s.idleMs).toBe(3);
      expect(s.byOwner).toEqual(
        expect.arrayContaining([
          { owner: '(native)', selfMs: 4, pctOfBusy: 57.1 },
          { owner: 'pg', selfMs: 1, pctOfBusy: 14.3 },
          { owner: 'node:_http_common', selfMs: 2, pctOfBusy: 28.6 },
        ]),
      );
      expect(s.byCallingOwner).toEqual([
        { owner: 'pg', selfMs: 5, pctOfBusy: 71.4 },
        { owner: 'node:_http_common', selfMs: 2, pctOfBusy: 28.6 },
      ]);
      expect(s.topFunctions[0]).toMatchObject({ fn: 'writev', owner: '(native)', caller: 'writevGeneric node:internal/stream_base_commons:1' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
