/**
 * GF(2^8) arithmetic and matrices exactly as klauspost/reedsolomon (galois.go, matrix.go) and
 * Backblaze JavaReedSolomon build them: polynomial 0x11d (x^8+x^4+x^3+x^2+1), generator 2.
 * Pure functions over small tables; shared by the reference codec and the worker kernel.
 */

/** exp[i] = 2^i for i in 0..509 (doubled so log[a]+log[b] needs no modulo). */
export const GF_EXP = new Uint8Array(512);
/** log[a] for a in 1..255; log[0] is unused. */
export const GF_LOG = new Uint8Array(256);
{
  let x = 1;
  for (let i = 0; i < 255; i++) {
    GF_EXP[i] = x;
    GF_LOG[x] = i;
    x <<= 1;
    if (x & 0x100) x ^= 0x11d;
  }
  for (let i = 255; i < 512; i++) GF_EXP[i] = GF_EXP[i - 255];
}

export function gfMul(a: number, b: number): number {
  if (a === 0 || b === 0) return 0;
  return GF_EXP[GF_LOG[a] + GF_LOG[b]];
}

export function gfInv(a: number): number {
  if (a === 0) throw new Error('GF(2^8): zero has no inverse');
  return GF_EXP[255 - GF_LOG[a]];
}

/** a^n with 0^0 = 1 (galExp in galois.go). */
export function gfExp(a: number, n: number): number {
  if (n === 0) return 1;
  if (a === 0) return 0;
  return GF_EXP[(GF_LOG[a] * n) % 255];
}

/** Row-major matrix of bytes. */
export type Matrix = Uint8Array[];

export function matMul(a: Matrix, b: Matrix): Matrix {
  const rows = a.length;
  const inner = b.length;
  const cols = b[0].length;
  const out: Matrix = [];
  for (let r = 0; r < rows; r++) {
    const row = new Uint8Array(cols);
    for (let c = 0; c < cols; c++) {
      let v = 0;
      for (let i = 0; i < inner; i++) v ^= gfMul(a[r][i], b[i][c]);
      row[c] = v;
    }
    out.push(row);
  }
  return out;
}

/** Gauss–Jordan inverse of a square matrix; throws when singular. */
export function matInvert(m: Matrix): Matrix {
  const size = m.length;
  const work = m.map((row, r) => {
    const wide = new Uint8Array(size * 2);
    wide.set(row);
    wide[size + r] = 1;
    return wide;
  });
  for (let col = 0; col < size; col++) {
    let pivot = col;
    while (pivot < size && work[pivot][col] === 0) pivot++;
    if (pivot === size) throw new Error('GF(2^8): singular matrix');
    if (pivot !== col) [work[pivot], work[col]] = [work[col], work[pivot]];
    const scale = gfInv(work[col][col]);
    for (let c = 0; c < size * 2; c++) work[col][c] = gfMul(work[col][c], scale);
    for (let r = 0; r < size; r++) {
      const f = work[r][col];
      if (r === col || f === 0) continue;
      for (let c = 0; c < size * 2; c++) work[r][c] ^= gfMul(f, work[col][c]);
    }
  }
  return work.map((row) => row.slice(size));
}

/**
 * The n×k encoding matrix: Vandermonde V[r][c] = r^c times the inverse of its top k×k square, so
 * rows 0..k-1 are the identity and rows k..n-1 give the parity (buildMatrix in reedsolomon.go).
 */
export function encodingMatrix(k: number, n: number): Matrix {
  const vm: Matrix = [];
  for (let r = 0; r < n; r++) {
    const row = new Uint8Array(k);
    for (let c = 0; c < k; c++) row[c] = gfExp(r, c);
    vm.push(row);
  }
  return matMul(vm, matInvert(vm.slice(0, k)));
}

export function checkShape(k: number, n: number): void {
  if (!Number.isInteger(k) || !Number.isInteger(n) || k < 1 || n <= k || n > 256) {
    throw new Error(`erasure codec: need integers 1 <= k < n <= 256, got k=${k} n=${n}`);
  }
}

/**
 * Rows (over the present blocks `use`, k of them, ascending) that rebuild each block in `want`:
 * data block d is row d of inverse(M[use]); parity p is M[p] × that inverse.
 */
export function decodeRows(matrix: Matrix, k: number, use: number[], want: number[]): Matrix {
  const inv = matInvert(use.map((i) => matrix[i]));
  return want.map((w) => {
    if (w < k) return inv[w];
    return matMul([matrix[w]], inv)[0];
  });
}
