/**
 * A WebAssembly SIMD kernel for out[j] = XOR_i rows[j][i] * in[i] over GF(2^8), emitted as bytes
 * here (no toolchain, no binary in the repo). It is the split-nibble table method of
 * klauspost/reedsolomon's SSSE3 path: c*x = lo_c[x & 15] ^ hi_c[x >> 4], two 16-byte tables per
 * coefficient looked up with i8x16.swizzle (pshufb), 32 bytes per iteration.
 */
import { gfMul } from './gf256.js';

// The project's TypeScript libs do not declare WebAssembly (no DOM lib): the little used here.
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
}
const Wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

/** Block lengths are padded to this inside the kernel's memory. */
export const KERNEL_ALIGN = 32;
/** Bytes of each block processed before moving to the next output: keeps the outputs in L1. */
const SEGMENT = 4096;

// Opcodes (core and SIMD proposal, merged in WebAssembly 2.0).
const BLOCK = 0x02, LOOP = 0x03, IF = 0x04, ELSE = 0x05, END = 0x0b, BR = 0x0c, BR_IF = 0x0d, VOID = 0x40;
const SELECT = 0x1b, GET = 0x20, SET = 0x21, I32_LOAD = 0x28, I32_CONST = 0x41;
const I32_EQZ = 0x45, I32_LT_U = 0x49, I32_GE_U = 0x4f, I32_ADD = 0x6a, I32_MUL = 0x6c, I32_SHL = 0x74;
const SIMD = 0xfd, V128_LOAD = 0x00, V128_STORE = 0x0b, SWIZZLE = 0x0e, I8X16_SPLAT = 0x0f;
const V128_AND = 0x4e, V128_XOR = 0x51, I8X16_SHR_U = 0x6d;
const T_I32 = 0x7f, T_V128 = 0x7b;

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

const section = (id: number, body: number[]) => [id, ...uleb(body.length), ...body];
const vec = (items: number[][]) => [...uleb(items.length), ...items.flat()];
const name = (s: string) => [...uleb(s.length), ...Buffer.from(s, 'latin1')];

// Parameters and locals of mul(tables, inPtrs, nIn, outPtrs, nOut, len).
const TABLES = 0, IN_PTRS = 1, N_IN = 2, OUT_PTRS = 3, N_OUT = 4, LEN = 5;
const SEG = 6, SEG_END = 7, J = 8, I = 9, X = 10, INP = 11, OUTP = 12, T = 13;
const LO = 14, HI = 15, MASK = 16, V = 17, R = 18;

function body(): number[] {
  const c: number[] = [];
  const get = (l: number) => c.push(GET, l);
  const set = (l: number) => c.push(SET, l);
  const i32 = (v: number) => c.push(I32_CONST, ...sleb(v));
  const vload = (offset: number) => c.push(SIMD, ...uleb(V128_LOAD), 4, ...uleb(offset));
  const vstore = (offset: number) => c.push(SIMD, ...uleb(V128_STORE), 4, ...uleb(offset));
  const simd = (op: number) => c.push(SIMD, ...uleb(op));

  /** r = lo[v & 15] ^ hi[v >> 4] for v = in[x + offset]; then (xor) r ^= out[x + offset]; out = r. */
  const step = (offset: number, xor: boolean) => {
    get(INP); get(X); c.push(I32_ADD); vload(offset); set(V);
    get(LO); get(V); get(MASK); simd(V128_AND); simd(SWIZZLE);
    get(HI); get(V); i32(4); simd(I8X16_SHR_U); simd(SWIZZLE);
    simd(V128_XOR); set(R);
    get(OUTP); get(X); c.push(I32_ADD);
    get(R);
    if (xor) {
      get(OUTP); get(X); c.push(I32_ADD); vload(offset);
      simd(V128_XOR);
    }
    vstore(offset);
  };
  const inner = (xor: boolean) => {
    c.push(LOOP, VOID);
    step(0, xor);
    step(16, xor);
    get(X); i32(32); c.push(I32_ADD); set(X);
    get(X); get(SEG_END); c.push(I32_LT_U, BR_IF, 0);
    c.push(END);
  };

  i32(15); simd(I8X16_SPLAT); set(MASK);
  i32(0); set(SEG);
  c.push(BLOCK, VOID, LOOP, VOID); // segments
  get(SEG); get(LEN); c.push(I32_GE_U, BR_IF, 1);
  // segEnd = min(seg + SEGMENT, len)
  get(SEG); i32(SEGMENT); c.push(I32_ADD); get(LEN);
  get(SEG); i32(SEGMENT); c.push(I32_ADD); get(LEN); c.push(I32_LT_U, SELECT); set(SEG_END);
  i32(0); set(J);
  c.push(BLOCK, VOID, LOOP, VOID); // outputs
  get(J); get(N_OUT); c.push(I32_GE_U, BR_IF, 1);
  get(OUT_PTRS); get(J); i32(2); c.push(I32_SHL, I32_ADD, I32_LOAD, 2, 0); set(OUTP);
  i32(0); set(I);
  c.push(BLOCK, VOID, LOOP, VOID); // inputs
  get(I); get(N_IN); c.push(I32_GE_U, BR_IF, 1);
  get(IN_PTRS); get(I); i32(2); c.push(I32_SHL, I32_ADD, I32_LOAD, 2, 0); set(INP);
  // t = tables + (j * nIn + i) * 32
  get(TABLES); get(J); get(N_IN); c.push(I32_MUL); get(I); c.push(I32_ADD); i32(5); c.push(I32_SHL, I32_ADD); set(T);
  get(T); vload(0); set(LO);
  get(T); vload(16); set(HI);
  get(SEG); set(X);
  get(I); c.push(I32_EQZ, IF, VOID);
  inner(false);
  c.push(ELSE);
  inner(true);
  c.push(END);
  get(I); i32(1); c.push(I32_ADD); set(I);
  c.push(BR, 0, END, END);
  get(J); i32(1); c.push(I32_ADD); set(J);
  c.push(BR, 0, END, END);
  get(SEG_END); set(SEG);
  c.push(BR, 0, END, END);
  c.push(END);
  const locals = vec([[...uleb(8), T_I32], [...uleb(5), T_V128]]);
  const fn = [...locals, ...c];
  return [...uleb(fn.length), ...fn];
}

/** The module's bytes: one exported memory "mem" and one function "mul". */
export function kernelModuleBytes(): Uint8Array {
  const type = section(1, vec([[0x60, ...vec([[T_I32], [T_I32], [T_I32], [T_I32], [T_I32], [T_I32]]), 0]]));
  const funcs = section(3, vec([[0]]));
  const memory = section(5, vec([[0x00, 1]]));
  const exports = section(7, vec([[...name('mem'), 0x02, 0], [...name('mul'), 0x00, 0]]));
  const code = section(10, vec([body()]));
  return Uint8Array.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, ...type, ...funcs, ...memory, ...exports, ...code]);
}

/** The 32-byte lo/hi tables of every coefficient of `rows` (nOut × nIn, row-major). */
export function coefficientTables(rows: Uint8Array): Uint8Array {
  const out = new Uint8Array(rows.length * 32);
  for (let r = 0; r < rows.length; r++) {
    const c = rows[r];
    for (let x = 0; x < 16; x++) {
      out[r * 32 + x] = gfMul(c, x);
      out[r * 32 + 16 + x] = gfMul(c, x << 4);
    }
  }
  return out;
}

/**
 * One instance of the kernel with its own memory: multiply(rows, inputs, length) → outputs.
 * Synchronous and CPU-bound: meant for a worker thread (or a benchmark).
 */
export class SimdKernel {
  private readonly memory: WasmMemory;
  private readonly mul: (t: number, ip: number, ni: number, op: number, no: number, len: number) => void;

  constructor(module: object = new Wasm.Module(kernelModuleBytes())) {
    const instance = new Wasm.Instance(module, {});
    this.memory = instance.exports.mem as WasmMemory;
    this.mul = instance.exports.mul as SimdKernel['mul'];
  }

  /**
   * inputs: nIn views of `length` bytes each (anywhere, e.g. slices of a SharedArrayBuffer);
   * outputs: nOut views of `length` bytes that receive the products.
   */
  multiply(rows: Uint8Array, nIn: number, nOut: number, inputs: Uint8Array[], outputs: Uint8Array[], length: number): void {
    if (length === 0 || nOut === 0) return;
    const padded = Math.ceil(length / KERNEL_ALIGN) * KERNEL_ALIGN;
    const tables = coefficientTables(rows);
    const ptrBytes = (nIn + nOut) * 4;
    const tablesAt = 0;
    const ptrsAt = align(tables.length);
    const dataAt = align(ptrsAt + ptrBytes);
    const need = dataAt + (nIn + nOut) * padded;
    if (need > this.memory.buffer.byteLength) {
      this.memory.grow(Math.ceil((need - this.memory.buffer.byteLength) / 65536));
    }
    const heap = new Uint8Array(this.memory.buffer);
    const ptrs = new Uint32Array(this.memory.buffer, ptrsAt, nIn + nOut);
    heap.set(tables, tablesAt);
    for (let i = 0; i < nIn; i++) {
      const at = dataAt + i * padded;
      ptrs[i] = at;
      heap.set(inputs[i].subarray(0, length), at);
      // The padding is computed too: zero it so stale bytes cannot matter (they are never copied out anyway).
      if (padded > length) heap.fill(0, at + length, at + padded);
    }
    for (let j = 0; j < nOut; j++) ptrs[nIn + j] = dataAt + (nIn + j) * padded;
    this.mul(tablesAt, ptrsAt, nIn, ptrsAt + nIn * 4, nOut, padded);
    for (let j = 0; j < nOut; j++) {
      const at = dataAt + (nIn + j) * padded;
      outputs[j].set(heap.subarray(at, at + length));
    }
  }
}

function align(n: number): number {
  return Math.ceil(n / 64) * 64;
}
