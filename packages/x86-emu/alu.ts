/**
 * Integer ALU with exact x86 flags, on values split into 32-bit halves.
 *
 * Every operation takes the operand width `w` in bytes (1, 2, 4, 8) and operands as (lo, hi)
 * halves (hi ignored below 8 bytes; lo already masked to the width). Results return the low half
 * and leave the high half in `s.th`. Flags the SDM leaves undefined are set the way an Intel core
 * does where that is well known (AF=0 after logic ops, SF/ZF/PF from the low result after
 * multiplication); tests compare them only where defined.
 *
 * @module
 */

import { type FlagState, PARITY } from "./flags.ts";

/** ALU state: flags plus the temporary high half. */
export interface AluState extends FlagState {
  /** High half of the last 64-bit result. */
  th: number;
}

const TWO32 = 4294967296;

/** Value mask of a width in bytes (1, 2, 4); 8-byte values use halves. */
export function maskOf(w: number): number {
  return w === 1 ? 0xff : w === 2 ? 0xffff : 0xffffffff;
}

/** Truncate a non-negative or negative integer number to `w` bytes (w ≤ 4). */
export function trunc(v: number, w: number): number {
  return w === 4 ? v >>> 0 : v & (w === 1 ? 0xff : 0xffff);
}

/** Sign-extend the `w`-byte value `v` (w ≤ 4) to a signed 32-bit number. */
export function sext(v: number, w: number): number {
  return w === 1 ? (v << 24) >> 24 : w === 2 ? (v << 16) >> 16 : v | 0;
}

function szp(s: AluState, w: number, r: number): void {
  s.zf = r === 0 ? 1 : 0;
  s.sf = (r >>> (w * 8 - 1)) & 1;
  s.pf = PARITY[r & 0xff]!;
}

function szp64(s: AluState, lo: number, hi: number): void {
  s.zf = (lo | hi) === 0 ? 1 : 0;
  s.sf = hi >>> 31;
  s.pf = PARITY[lo & 0xff]!;
}

/** `a + b + cin` with flags (add/adc/xadd). */
export function add(
  s: AluState,
  w: number,
  a: number,
  ah: number,
  b: number,
  bh: number,
  cin: number,
): number {
  if (w === 8) {
    let lo = a + b + cin;
    const c1 = lo > 0xffffffff ? 1 : 0;
    lo >>>= 0;
    let hi = ah + bh + c1;
    s.cf = hi > 0xffffffff ? 1 : 0;
    hi >>>= 0;
    s.of = (((ah ^ hi) & (bh ^ hi)) >>> 31) & 1;
    s.af = ((a ^ b ^ lo) >>> 4) & 1;
    szp64(s, lo, hi);
    s.th = hi;
    return lo;
  }
  const full = a + b + cin;
  const r = trunc(full, w);
  const sb = w * 8 - 1;
  s.cf = full > maskOf(w) ? 1 : 0;
  s.of = (((a ^ r) & (b ^ r)) >>> sb) & 1;
  s.af = ((a ^ b ^ r) >>> 4) & 1;
  szp(s, w, r);
  s.th = 0;
  return r;
}

/** `a - b - bin` with flags (sub/sbb/cmp/neg). */
export function sub(
  s: AluState,
  w: number,
  a: number,
  ah: number,
  b: number,
  bh: number,
  bin: number,
): number {
  if (w === 8) {
    let lo = a - b - bin;
    const b1 = lo < 0 ? 1 : 0;
    lo >>>= 0;
    let hi = ah - bh - b1;
    s.cf = hi < 0 ? 1 : 0;
    hi >>>= 0;
    s.of = (((ah ^ bh) & (ah ^ hi)) >>> 31) & 1;
    s.af = ((a ^ b ^ lo) >>> 4) & 1;
    szp64(s, lo, hi);
    s.th = hi;
    return lo;
  }
  const full = a - b - bin;
  const r = trunc(full, w);
  const sb = w * 8 - 1;
  s.cf = full < 0 ? 1 : 0;
  s.of = (((a ^ b) & (a ^ r)) >>> sb) & 1;
  s.af = ((a ^ b ^ r) >>> 4) & 1;
  szp(s, w, r);
  s.th = 0;
  return r;
}

/** Flags of a logic result (and/or/xor/test): CF=OF=0, AF=0, SF/ZF/PF from the result. */
export function logicFlags(s: AluState, w: number, r: number, rh: number): void {
  s.cf = 0;
  s.of = 0;
  s.af = 0;
  if (w === 8) szp64(s, r, rh);
  else szp(s, w, r);
}

/** `inc`: like add 1 but CF is preserved. */
export function inc(s: AluState, w: number, a: number, ah: number): number {
  const cf = s.cf;
  const r = add(s, w, a, ah, 1, 0, 0);
  s.cf = cf;
  return r;
}

/** `dec`: like sub 1 but CF is preserved. */
export function dec(s: AluState, w: number, a: number, ah: number): number {
  const cf = s.cf;
  const r = sub(s, w, a, ah, 1, 0, 0);
  s.cf = cf;
  return r;
}

/** `neg`: 0 - a, CF = (a != 0). */
export function neg(s: AluState, w: number, a: number, ah: number): number {
  const r = sub(s, w, 0, 0, a, ah, 0);
  s.cf = (a | (w === 8 ? ah : 0)) !== 0 ? 1 : 0;
  return r;
}

/** Shift/rotate kinds for {@linkcode shift}. */
export const SHL = 0, SHR = 1, SAR = 2, ROL = 3, ROR = 4, RCL = 5, RCR = 6;

/**
 * Shifts and rotates by `count` (masked to 5 bits, 6 for 64-bit). A masked count of 0 changes
 * neither the value nor the flags.
 */
export function shift(
  s: AluState,
  kind: number,
  w: number,
  a: number,
  ah: number,
  count: number,
): number {
  const cnt = count & (w === 8 ? 63 : 31);
  if (cnt === 0) {
    s.th = ah;
    return a;
  }
  if (kind >= RCL) return rotateCarry(s, kind, w, a, ah, cnt);
  if (w === 8) return shift64(s, kind, a, ah, cnt);
  const bits = w * 8;
  const sb = bits - 1;
  let r: number;
  switch (kind) {
    case SHL: {
      if (w === 4) {
        r = (a << cnt) >>> 0;
        s.cf = (a >>> (32 - cnt)) & 1;
      } else {
        const v = a * 2 ** cnt;
        r = v % 2 ** bits;
        s.cf = Math.floor(v / 2 ** bits) & 1;
      }
      s.of = ((r >>> sb) & 1) ^ s.cf;
      s.af = 0;
      szp(s, w, r);
      break;
    }
    case SHR: {
      r = cnt >= bits ? 0 : a >>> cnt;
      s.cf = cnt > bits ? 0 : (a >>> (cnt - 1)) & 1;
      s.of = ((a ^ r) >>> sb) & 1;
      s.af = 0;
      szp(s, w, r);
      break;
    }
    case SAR: {
      const sa = sext(a, w);
      r = trunc(sa >> Math.min(cnt, 31), w);
      s.cf = (sa >> Math.min(cnt - 1, 31)) & 1;
      s.of = 0;
      s.af = 0;
      szp(s, w, r);
      break;
    }
    case ROL: {
      const e = cnt % bits;
      r = e === 0 ? a : trunc((a << e) | (a >>> (bits - e)), w);
      s.cf = r & 1;
      s.of = ((r >>> sb) & 1) ^ s.cf;
      break;
    }
    default: { // ROR
      const e = cnt % bits;
      r = e === 0 ? a : trunc((a >>> e) | (a << (bits - e)), w);
      s.cf = (r >>> sb) & 1;
      s.of = s.cf ^ ((r >>> (sb - 1)) & 1);
      break;
    }
  }
  s.th = 0;
  return r;
}

function shift64(s: AluState, kind: number, a: number, ah: number, cnt: number): number {
  let lo: number, hi: number;
  switch (kind) {
    case SHL:
      if (cnt < 32) {
        hi = ((ah << cnt) | (a >>> (32 - cnt))) >>> 0;
        lo = (a << cnt) >>> 0;
        s.cf = (ah >>> (32 - cnt)) & 1;
      } else if (cnt === 32) {
        hi = a;
        lo = 0;
        s.cf = ah & 1;
      } else {
        hi = (a << (cnt - 32)) >>> 0;
        lo = 0;
        s.cf = (a >>> (64 - cnt)) & 1;
      }
      s.of = (hi >>> 31) ^ s.cf;
      s.af = 0;
      szp64(s, lo, hi);
      break;
    case SHR:
    case SAR: {
      const fill = kind === SAR ? (ah | 0) >> 31 : 0;
      const sh = kind === SAR ? ah | 0 : ah;
      if (cnt < 32) {
        lo = ((a >>> cnt) | (ah << (32 - cnt))) >>> 0;
        hi = (kind === SAR ? sh >> cnt : ah >>> cnt) >>> 0;
        s.cf = (a >>> (cnt - 1)) & 1;
      } else if (cnt === 32) {
        lo = ah;
        hi = fill >>> 0;
        s.cf = a >>> 31;
      } else {
        lo = (kind === SAR ? sh >> (cnt - 32) : ah >>> (cnt - 32)) >>> 0;
        hi = fill >>> 0;
        s.cf = (sh >>> (cnt - 33)) & 1;
      }
      s.of = kind === SAR ? 0 : ((ah ^ hi) >>> 31) & 1;
      s.af = 0;
      szp64(s, lo, hi);
      break;
    }
    case ROL: {
      const v = (BigInt(ah) << 32n) | BigInt(a);
      const e = BigInt(cnt);
      const r = BigInt.asUintN(64, (v << e) | (v >> (64n - e)));
      lo = Number(r & 0xffffffffn);
      hi = Number(r >> 32n);
      s.cf = lo & 1;
      s.of = (hi >>> 31) ^ s.cf;
      break;
    }
    default: {
      const v = (BigInt(ah) << 32n) | BigInt(a);
      const e = BigInt(cnt);
      const r = BigInt.asUintN(64, (v >> e) | (v << (64n - e)));
      lo = Number(r & 0xffffffffn);
      hi = Number(r >> 32n);
      s.cf = hi >>> 31;
      s.of = s.cf ^ ((hi >>> 30) & 1);
      break;
    }
  }
  s.th = hi;
  return lo;
}

function rotateCarry(s: AluState, kind: number, w: number, a: number, ah: number, cnt: number) {
  const bits = w * 8;
  const n = w <= 2 ? cnt % (bits + 1) : cnt;
  const v = w === 8 ? (BigInt(ah) << 32n) | BigInt(a) : BigInt(a);
  const B = BigInt(bits);
  const full = (BigInt(s.cf) << B) | v; // bits+1 wide
  const mod = B + 1n;
  const e = BigInt(n);
  const mask = (1n << mod) - 1n;
  const msbIn = Number((v >> (B - 1n)) & 1n);
  const cfIn = s.cf;
  const r = kind === RCL
    ? ((full << e) | (full >> (mod - e))) & mask
    : ((full >> e) | (full << (mod - e))) & mask;
  s.cf = Number((r >> B) & 1n);
  const res = r & ((1n << B) - 1n);
  const msb = Number((res >> (B - 1n)) & 1n);
  s.of = kind === RCL ? msb ^ s.cf : msbIn ^ cfIn;
  if (w === 8) {
    s.th = Number(res >> 32n);
    return Number(res & 0xffffffffn);
  }
  s.th = 0;
  return Number(res);
}

/** `shld`/`shrd` (left when `left`), count masked to 5 bits (6 for 64-bit). */
export function shiftDouble(
  s: AluState,
  left: boolean,
  w: number,
  a: number,
  ah: number,
  b: number,
  bh: number,
  count: number,
): number {
  const cnt = count & (w === 8 ? 63 : 31);
  if (cnt === 0) {
    s.th = ah;
    return a;
  }
  const bits = BigInt(w * 8);
  const dst = w === 8 ? (BigInt(ah) << 32n) | BigInt(a) : BigInt(a);
  const src = w === 8 ? (BigInt(bh) << 32n) | BigInt(b) : BigInt(b);
  const m = (1n << bits) - 1n;
  const e = BigInt(cnt);
  let r: bigint;
  if (left) {
    // Counts above the width (16-bit only) are undefined; the double-width form is used.
    const cat = (dst << bits) | src;
    r = ((cat << e) >> bits) & m;
    s.cf = Number((cat >> (2n * bits - e)) & 1n);
  } else {
    const cat = (src << bits) | dst;
    r = (cat >> e) & m;
    s.cf = Number((cat >> (e - 1n)) & 1n);
  }
  const msb = Number((r >> (bits - 1n)) & 1n);
  s.of = msb ^ Number((dst >> (bits - 1n)) & 1n);
  s.af = 0;
  const lo = Number(r & 0xffffffffn);
  const hi = Number(r >> 32n);
  if (w === 8) szp64(s, lo, hi);
  else szp(s, w, lo);
  s.th = hi;
  return lo;
}

/** Compose halves into an unsigned bigint. */
export function toBig(lo: number, hi: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

/** Split a bigint (mod 2^64) into halves: returns lo, `s.th` = hi. */
export function fromBig(s: AluState, v: bigint): number {
  const u = BigInt.asUintN(64, v);
  s.th = Number(u >> 32n);
  return Number(u & 0xffffffffn);
}

/** Result flags of multiplication: CF=OF=`overflow`, SF/ZF/PF from the low result, AF=0. */
export function mulFlags(s: AluState, w: number, lo: number, hi: number, overflow: boolean): void {
  s.cf = s.of = overflow ? 1 : 0;
  s.af = 0;
  if (w === 8) szp64(s, lo, hi);
  else szp(s, w, lo);
}

/** Number of trailing zero bits of a 64-bit value given as halves (64 when zero). */
export function ctz64(lo: number, hi: number): number {
  if (lo !== 0) return 31 - Math.clz32(lo & -lo);
  if (hi !== 0) return 32 + 31 - Math.clz32(hi & -hi);
  return 64;
}

/** Number of leading zero bits of a `w`-byte value (w*8 when zero). */
export function clz(w: number, lo: number, hi: number): number {
  if (w === 8) return hi !== 0 ? Math.clz32(hi) : 32 + Math.clz32(lo);
  return Math.clz32(lo) - (32 - w * 8);
}

/** Population count of a 32-bit value. */
export function popcount32(v: number): number {
  v = v - ((v >>> 1) & 0x55555555);
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return (((v + (v >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

/** Parity lookup re-exported for handlers. */
export { PARITY };
/** 2^32 as a number. */
export { TWO32 };

/** Lazy flag kinds: compiled blocks leave the last flag-setting operation as a descriptor. */
export const LAZY_ADD = 1;
/** Subtraction/comparison (`la - lb`). */
export const LAZY_SUB = 2;
/** Logic result `la:lah` (CF=OF=AF=0). */
export const LAZY_LOGIC = 3;
/** `inc` of `la:lah`, CF preserved in `lcf`. */
export const LAZY_INC = 4;
/** `dec` of `la:lah`, CF preserved in `lcf`. */
export const LAZY_DEC = 5;
/** Result `la:lah` with CF in `lcf` and OF in `lb`, AF=0 (shifts, multiplication). */
export const LAZY_RES = 6;

/** CPU state with a lazy flag descriptor (`lop` = kind << 4 | width, 0 when flags are exact). */
export interface LazyFlagState extends AluState {
  /** Kind << 4 | width in bytes; 0 when `cf`..`of` are up to date. */
  lop: number;
  /** First operand (or result for logic), low half. */
  la: number;
  /** First operand, high half. */
  lah: number;
  /** Second operand, low half. */
  lb: number;
  /** Second operand, high half. */
  lbh: number;
  /** Preserved carry of inc/dec. */
  lcf: number;
}

/**
 * Compute `cf`..`of` from the lazy descriptor and clear it. Every path that reads the flag fields
 * outside compiled code calls this first (the CPU loop does, and `rflags` does).
 */
export function materializeFlags(s: LazyFlagState): void {
  const w = s.lop & 15, kind = s.lop >> 4;
  const th = s.th;
  s.lop = 0;
  switch (kind) {
    case LAZY_ADD:
      add(s, w, s.la, s.lah, s.lb, s.lbh, 0);
      break;
    case LAZY_SUB:
      sub(s, w, s.la, s.lah, s.lb, s.lbh, 0);
      break;
    case LAZY_LOGIC:
      logicFlags(s, w, s.la, s.lah);
      break;
    case LAZY_INC:
      add(s, w, s.la, s.lah, 1, 0, 0);
      s.cf = s.lcf;
      break;
    case LAZY_DEC:
      sub(s, w, s.la, s.lah, 1, 0, 0);
      s.cf = s.lcf;
      break;
    case LAZY_RES:
      logicFlags(s, w, s.la, s.lah);
      s.cf = s.lcf;
      s.of = s.lb;
      break;
  }
  s.th = th;
}

/** The 128-bit product of the last {@linkcode mul64} as four u32 limbs, least significant first. */
export const PRODUCT: Uint32Array = new Uint32Array(4);
let mulHi = 0;

/** Low 32 bits of the unsigned product x·y (u32 inputs); the high 32 bits go to `mulHi`. */
function mulu32(x: number, y: number): number {
  const x0 = x & 0xffff, x1 = x >>> 16, y0 = y & 0xffff, y1 = y >>> 16;
  const p00 = x0 * y0, p01 = x0 * y1, p10 = x1 * y0;
  const mid = (p00 >>> 16) + (p01 & 0xffff) + (p10 & 0xffff); // < 3 * 2^16
  mulHi = (x1 * y1 + (p01 >>> 16) + (p10 >>> 16) + (mid >>> 16)) >>> 0;
  return ((mid << 16) | (p00 & 0xffff)) >>> 0;
}

/**
 * 64×64→128-bit multiplication on 32-bit halves without BigInt (16-bit partial products, all
 * integer-typed). `signed` gives the two's-complement product. The result goes to
 * {@linkcode PRODUCT}.
 *
 * @example
 * ```ts
 * import { mul64, PRODUCT } from "./alu.ts";
 * import assert from "node:assert/strict";
 * mul64(0xffffffff, 0xffffffff, 2, 0, false); // (2^64 - 1) * 2
 * assert.deepEqual([...PRODUCT], [0xfffffffe, 0xffffffff, 1, 0]);
 * ```
 */
export function mul64(al: number, ah: number, bl: number, bh: number, signed: boolean): void {
  const p0 = mulu32(al, bl), c0 = mulHi;
  const m1 = mulu32(ah, bl), m1h = mulHi;
  const m2 = mulu32(al, bh), m2h = mulHi;
  const q = mulu32(ah, bh), qh = mulHi;
  const t1 = c0 + m1 + m2; // < 3 * 2^32
  const p1 = t1 >>> 0;
  const c1 = (t1 - p1) / 4294967296;
  const t2 = m1h + m2h + q + c1;
  const p2 = t2 >>> 0;
  const c2 = (t2 - p2) / 4294967296;
  let h0 = p2, h1 = (qh + c2) >>> 0;
  if (signed) {
    // (a - 2^64·[a<0]) (b - 2^64·[b<0]) = a·b - 2^64 (b·[a<0] + a·[b<0]) mod 2^128
    if ((ah | 0) < 0) {
      const l = h0 - bl;
      h0 = l >>> 0;
      h1 = (h1 - bh - (l < 0 ? 1 : 0)) >>> 0;
    }
    if ((bh | 0) < 0) {
      const l = h0 - al;
      h0 = l >>> 0;
      h1 = (h1 - ah - (l < 0 ? 1 : 0)) >>> 0;
    }
  }
  const out = PRODUCT;
  out[0] = p0;
  out[1] = p1;
  out[2] = h0;
  out[3] = h1;
}
