/**
 * INTERIM (until red-codec's libs/redundancy/src/codec lands): a plain-JavaScript Reed–Solomon
 * encoder with klauspost/Backblaze's matrix (Vandermonde over GF(2^8), polynomial 0x11d, normalised
 * to systematic). Synchronous and slow (~0.2 GB/s); only here so the write path can be built and
 * tested before the real codec is merged.
 */
const EXP = new Uint8Array(512);
const LOG = new Uint8Array(256);
{
  let x = 1;
  for (let i = 0; i < 255; i++) {
    EXP[i] = x;
    LOG[x] = i;
    x <<= 1;
    if (x & 0x100) x ^= 0x11d;
  }
  for (let i = 255; i < 512; i++) EXP[i] = EXP[i - 255]!;
}
const mul = (a: number, b: number) => (a === 0 || b === 0 ? 0 : EXP[LOG[a]! + LOG[b]!]!);
const pow = (a: number, e: number) => (e === 0 ? 1 : a === 0 ? 0 : EXP[(LOG[a]! * e) % 255]!);
const inv = (a: number) => EXP[255 - LOG[a]!]!;

function invert(m: number[][]): number[][] {
  const n = m.length;
  const a = m.map((r, i) => [...r, ...Array.from({ length: n }, (_, j) => (i === j ? 1 : 0))]);
  for (let c = 0; c < n; c++) {
    let p = c;
    while (a[p]![c] === 0) p++;
    [a[c], a[p]] = [a[p]!, a[c]!];
    const f = inv(a[c]![c]!);
    a[c] = a[c]!.map((v) => mul(v, f));
    for (let r = 0; r < n; r++) {
      if (r === c || a[r]![c] === 0) continue;
      const g = a[r]![c]!;
      a[r] = a[r]!.map((v, j) => v ^ mul(g, a[c]![j]!));
    }
  }
  return a.map((r) => r.slice(n));
}

/** The systematic encoding matrix's parity rows (k..n-1). */
function parityRows(k: number, n: number): number[][] {
  const v = Array.from({ length: n }, (_, r) => Array.from({ length: k }, (_, c) => pow(r, c)));
  const topInv = invert(v.slice(0, k));
  return v.slice(k).map((row) => Array.from({ length: k }, (_, c) => row.reduce((acc, x, j) => acc ^ mul(x, topInv[j]![c]!), 0)));
}

export function interimErasureCodec(k: number, n: number): { encode(data: Buffer[]): Buffer[] } {
  const rows = parityRows(k, n);
  const tables = rows.map((r) => r.map((coef) => Uint8Array.from({ length: 256 }, (_, b) => mul(coef, b))));
  return {
    encode(data: Buffer[]): Buffer[] {
      const len = data[0]!.length;
      return tables.map((t) => {
        const out = Buffer.alloc(len);
        t.forEach((tab, c) => {
          const d = data[c]!;
          for (let i = 0; i < len; i++) out[i] ^= tab[d[i]!]!;
        });
        return out;
      });
    },
  };
}
