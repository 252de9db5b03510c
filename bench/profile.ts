import { readFileSync } from 'node:fs';

interface CpuProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: CpuProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  /** Wall time covered by the profile, and the part the main thread spent idle (waiting on I/O). */
  wallMs: number;
  idleMs: number;
  /** Self time grouped by who owns the code (gateway code, a package, Node internals, GC, ...). */
  byOwner: Array<{ owner: string; selfMs: number; pctOfBusy: number }>;
  /**
   * The same time with Node internals and native frames charged to the nearest package or gateway
   * frame that called them (a socket `writev` under `pg` is pg's, under the HTTP response Node's own
   * `node:_http_*` if nothing else called it): who asked for the work.
   */
  byCallingOwner: Array<{ owner: string; selfMs: number; pctOfBusy: number }>;
  /** Functions with the most self time. */
  /** `caller` is given for native frames (`update`, `writev`, ...), which say little on their own. */
  topFunctions: Array<{ fn: string; at: string; owner: string; caller?: string; selfMs: number; pctOfBusy: number }>;
}

/** Who owns a frame: the package under node_modules, the gateway's own code, Node, or V8. */
function ownerOf(url: string, fn: string): string {
  if (!url) return fn.startsWith('(') ? fn : '(native)';
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1];
  if (url.startsWith('node:')) {
    const m = /^node:(?:internal\/)?([^/]+)/.exec(url);
    return `node:${m?.[1] ?? url}`;
  }
  const d = /\/dist\/((?:apps|libs)\/[^/]+)/.exec(url);
  if (d) return `gateway:${d[1]}`;
  return url.replace(/^file:\/\//, '');
}

const shortUrl = (url: string) => url.replace(/^file:\/\/.*?\/(node_modules|dist)\//, '$1/');

/**
 * Self time per function from a V8 .cpuprofile (the time each sample stands for is the delta to the
 * next sample), as a few lines a person can read in the report.
 */
export function summariseProfile(file: string, top = 15): ProfileSummary {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parentOf = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parentOf.set(c, n.id);
  /** The nearest JavaScript frame above a native one. */
  const jsCaller = (id: number): string | undefined => {
    for (let at = parentOf.get(id); at !== undefined; at = parentOf.get(at)) {
      const cf = byId.get(at)!.callFrame;
      if (cf.url) return `${cf.functionName || '(anonymous)'} ${shortUrl(cf.url)}:${cf.lineNumber + 1}`;
    }
    return undefined;
  };
  /** Owner of the nearest frame above (or at) `id` that is neither native nor Node's own. */
  const callingOwner = new Map<number, string>();
  const callingOwnerOf = (id: number): string => {
    const known = callingOwner.get(id);
    if (known !== undefined) return known;
    const cf = byId.get(id)!.callFrame;
    const own = ownerOf(cf.url, cf.functionName);
    const parent = parentOf.get(id);
    // Node's HTTP/stream/fs internals and native calls stand for whoever called them; at the root,
    // the frame keeps its own owner (e.g. an HTTP parser callback with no package above it).
    const out = (own.startsWith('node:') || own === '(native)') && parent !== undefined && byId.get(parent)!.callFrame.functionName !== '(root)' ? callingOwnerOf(parent) : own;
    callingOwner.set(id, out === '(root)' ? own : out);
    return callingOwner.get(id)!;
  };
  const selfUs = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) {
    const dt = p.timeDeltas[i + 1] ?? 0;
    selfUs.set(p.samples[i], (selfUs.get(p.samples[i]) ?? 0) + dt);
  }
  const fns = new Map<string, { fn: string; at: string; owner: string; caller?: string; us: number }>();
  const owners = new Map<string, number>();
  const callers = new Map<string, number>();
  let idleUs = 0;
  let totalUs = 0;
  for (const [id, us] of selfUs) {
    const cf = byId.get(id)!.callFrame;
    totalUs += us;
    if (cf.functionName === '(idle)') {
      idleUs += us;
      continue;
    }
    const owner = ownerOf(cf.url, cf.functionName);
    const fn = cf.functionName || '(anonymous)';
    const at = cf.url ? `${shortUrl(cf.url)}:${cf.lineNumber + 1}` : '';
    const caller = !cf.url && !fn.startsWith('(') ? jsCaller(id) : undefined;
    const key = `${fn}@${at}@${caller ?? ''}`;
    const e = fns.get(key) ?? { fn, at, owner, caller, us: 0 };
    e.us += us;
    fns.set(key, e);
    owners.set(owner, (owners.get(owner) ?? 0) + us);
    const co = callingOwnerOf(id);
    callers.set(co, (callers.get(co) ?? 0) + us);
  }
  const busy = Math.max(1, totalUs - idleUs);
  const ms = (us: number) => Number((us / 1000).toFixed(1));
  const pct = (us: number) => Number(((100 * us) / busy).toFixed(1));
  return {
    wallMs: ms(p.endTime - p.startTime),
    idleMs: ms(idleUs),
    byOwner: [...owners.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 12)
      .map(([owner, us]) => ({ owner, selfMs: ms(us), pctOfBusy: pct(us) })),
    byCallingOwner: [...callers.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 12)
      .map(([owner, us]) => ({ owner, selfMs: ms(us), pctOfBusy: pct(us) })),
    topFunctions: [...fns.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map((e) => ({ fn: e.fn, at: e.at, owner: e.owner, ...(e.caller ? { caller: e.caller } : {}), selfMs: ms(e.us), pctOfBusy: pct(e.us) })),
  };
}
