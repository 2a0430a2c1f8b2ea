/**
 * Instruction semantics: builds one specialised handler closure per decoded record.
 *
 * Handlers receive the CPU with `rip` already advanced to the next instruction. Operand access
 * is resolved at build time into small reader/writer closures, so the run loop does no operand
 * decoding (emulation.md §3, "Handlers"). A record that cannot be executed gets a handler raising
 * `UD` naming the mnemonic, address and bytes; `Insn.impl` says whether that is a gap
 * (`IMPL_NO`) or deliberate (`IMPL_BY_DESIGN`: VMX/SVM, x87, AVX, ...).
 *
 * @module
 */

import { Mnemonic as M } from "iced-x86";
import { CpuFault } from "./faults.ts";
import { fromLinear, hex, linearFromHalves } from "./address.ts";
import {
  add,
  clz,
  ctz64,
  dec,
  inc,
  logicFlags,
  mul64,
  mulFlags,
  neg,
  popcount32,
  PRODUCT,
  RCL,
  RCR,
  ROL,
  ROR,
  SAR,
  sext,
  shift,
  shiftDouble,
  SHL,
  SHR,
  sub,
  toBig,
  trunc,
} from "./alu.ts";
import { condition, getRflags, PARITY, setRflags } from "./flags.ts";
import {
  type Handler,
  IMPL_BY_DESIGN,
  IMPL_NO,
  IMPL_YES,
  type Insn,
  type MemOperand,
  mnemonicName,
  NOP_MNEMONICS,
  type Operand,
  OPK_IMM,
  OPK_MEM,
  OPK_REG,
  OPK_STRING,
  RC_CR,
  RC_DR,
  RC_GPR,
  RC_SEG,
  RC_XMM,
  setHandlerBuilder,
} from "./decoder.ts";
import type { Cpu } from "./cpu.ts";
import { MSR_FS_BASE, MSR_GS_BASE, MSR_KERNEL_GS_BASE, MSR_TSC, MSR_TSC_AUX } from "./cpu_model.ts";

type Rd = (c: Cpu) => number;
type Wr = (c: Cpu, lo: number, hi: number) => void;

const TWO32 = 4294967296;
/** Iterations of a rep instruction per execution; it re-executes until rcx is 0. */
const REP_CHUNK = 4096;

// ---------------------------------------------------------------------------------------------
// Faults

function ud(i: Insn, why: string): CpuFault {
  const bytes = Array.from(i.bytes, (b) => b.toString(16).padStart(2, "0")).join(" ");
  return new CpuFault(
    "UD",
    `${why}: ${mnemonicName(i.mnemonic)} at ${hex(i.ip)} (bytes ${bytes})`,
    { rip: fromLinear(i.ip), mnemonic: mnemonicName(i.mnemonic), bytes: i.bytes },
  );
}

function gp(msg: string): CpuFault {
  return new CpuFault("GP", msg);
}

function unimplemented(i: Insn, byDesign: boolean): Handler {
  i.impl = byDesign ? IMPL_BY_DESIGN : IMPL_NO;
  const why = byDesign ? "Instruction not modelled by design" : "Instruction not implemented";
  return () => {
    throw ud(i, why);
  };
}

// ---------------------------------------------------------------------------------------------
// Addresses and operands

function canonOrGp(a: number): number {
  if (Number.isNaN(a)) throw gp("Non-canonical address");
  return a;
}

/** Canonical effective address of a memory operand (NaN when non-canonical; memory raises #GP). */
function eaFn(m: MemOperand): Rd {
  const { base, index, scale, dispLo, dispHi } = m;
  let f: Rd;
  if (m.ripRel) {
    const a = linearFromHalves(dispLo, dispHi);
    f = () => a;
  } else if (m.addr32) {
    f = (c) => {
      let v = dispLo;
      if (base >= 0) v += c.lo[base]!;
      if (index >= 0) v += c.lo[index]! * scale;
      return v >>> 0;
    };
  } else if (base >= 0 && index < 0) {
    if (dispLo === 0 && dispHi === 0) f = (c) => linearFromHalves(c.lo[base]!, c.hi[base]!);
    else f = (c) => linearFromHalves(c.lo[base]! + dispLo, c.hi[base]! + dispHi);
  } else if (base >= 0) {
    f = (c) =>
      linearFromHalves(
        c.lo[base]! + c.lo[index]! * scale + dispLo,
        c.hi[base]! + c.hi[index]! * scale + dispHi,
      );
  } else if (index >= 0) {
    f = (c) => linearFromHalves(c.lo[index]! * scale + dispLo, c.hi[index]! * scale + dispHi);
  } else {
    const a = linearFromHalves(dispLo, dispHi);
    f = () => a;
  }
  if (m.seg === 4) {
    const g = f;
    f = (c) => segAdd(c.fsBase, g(c));
  } else if (m.seg === 5) {
    const g = f;
    f = (c) => segAdd(c.gsBase, g(c));
  }
  return f;
}

function segAdd(base: number, off: number): number {
  // Offsets are 64-bit; both are canonical numbers here, so the sum is exact. Wrap-around beyond
  // the canonical range is reported as non-canonical.
  const a = base + off;
  return a >= -0x800000000000 && a < 0x800000000000 ? a : NaN;
}

/** Effective address as exact 64-bit halves (lea): returns lo, `c.th` = hi. */
function leaFn(m: MemOperand): Rd {
  const { base, index, scale, dispLo, dispHi } = m;
  if (m.ripRel) {
    return (c) => {
      c.th = dispHi;
      return dispLo;
    };
  }
  return (c) => {
    let lo = dispLo, hi = dispHi;
    if (base >= 0) {
      lo += c.lo[base]!;
      hi += c.hi[base]!;
    }
    if (index >= 0) {
      lo += c.lo[index]! * scale;
      hi += c.hi[index]! * scale;
    }
    const l = lo >>> 0;
    c.th = (hi + (lo - l) / TWO32) >>> 0;
    if (m.addr32) c.th = 0;
    return l;
  };
}

function rdReg(w: number, r: number, high: boolean): Rd {
  switch (w) {
    case 8:
      return (c) => {
        c.th = c.hi[r]!;
        return c.lo[r]!;
      };
    case 4:
      return (c) => c.lo[r]!;
    case 2:
      return (c) => c.lo[r]! & 0xffff;
    default:
      return high ? (c) => (c.lo[r]! >>> 8) & 0xff : (c) => c.lo[r]! & 0xff;
  }
}

function wrReg(w: number, r: number, high: boolean): Wr {
  switch (w) {
    case 8:
      return (c, lo, hi) => {
        c.lo[r] = lo;
        c.hi[r] = hi;
      };
    case 4:
      return (c, lo) => {
        c.lo[r] = lo;
        c.hi[r] = 0;
      };
    case 2:
      return (c, lo) => {
        c.lo[r] = (c.lo[r]! & 0xffff0000) | (lo & 0xffff);
      };
    default:
      return high
        ? (c, lo) => {
          c.lo[r] = (c.lo[r]! & 0xffff00ff) | ((lo & 0xff) << 8);
        }
        : (c, lo) => {
          c.lo[r] = (c.lo[r]! & 0xffffff00) | (lo & 0xff);
        };
  }
}

function rdMem(w: number): Rd {
  switch (w) {
    case 8:
      return (c) => {
        const lo = c.mem.rd64(c.ea);
        c.th = c.mem.hi;
        return lo;
      };
    case 4:
      return (c) => c.mem.rd32(c.ea);
    case 2:
      return (c) => c.mem.rd16(c.ea);
    default:
      return (c) => c.mem.rd8(c.ea);
  }
}

function wrMem(w: number): Wr {
  switch (w) {
    case 8:
      return (c, lo, hi) => c.mem.wr64(c.ea, lo, hi);
    case 4:
      return (c, lo) => c.mem.wr32(c.ea, lo);
    case 2:
      return (c, lo) => c.mem.wr16(c.ea, lo & 0xffff);
    default:
      return (c, lo) => c.mem.wr8(c.ea, lo & 0xff);
  }
}

/** Reader of operand `o` at width `w` (immediates are truncated to `w`). */
function reader(o: Operand, w: number): Rd | null {
  if (o.kind === OPK_REG && o.rc === RC_GPR) return rdReg(w, o.reg, o.high);
  if (o.kind === OPK_MEM) return rdMem(w);
  if (o.kind === OPK_IMM) {
    const lo = w === 8 ? o.immLo : trunc(o.immLo, w);
    const hi = w === 8 ? o.immHi : 0;
    return (c) => {
      c.th = hi;
      return lo;
    };
  }
  return null;
}

function writer(o: Operand, w: number): Wr | null {
  if (o.kind === OPK_REG && o.rc === RC_GPR) return wrReg(w, o.reg, o.high);
  if (o.kind === OPK_MEM) return wrMem(w);
  return null;
}

function withEa(i: Insn, h: Handler): Handler {
  if (i.mem === null) return h;
  const ea = eaFn(i.mem);
  return (c, ins) => {
    c.ea = ea(c);
    h(c, ins);
  };
}

function regAdd(c: Cpu, r: number, delta: number): void {
  const lo = c.lo[r]! + delta;
  if (lo >= 0 && lo < TWO32) c.lo[r] = lo;
  else {
    c.lo[r] = lo;
    c.hi[r] = c.hi[r]! + (lo < 0 ? -1 : 1);
  }
}

function regLin(c: Cpu, r: number): number {
  return linearFromHalves(c.lo[r]!, c.hi[r]!);
}

// ---------------------------------------------------------------------------------------------
// Stack

/** Push `w` bytes (8 or 2). */
export function push(c: Cpu, w: number, lo: number, hi: number): void {
  let l = c.lo[4]! - w;
  let h = c.hi[4]!;
  if (l < 0) {
    l += TWO32;
    h = (h - 1) >>> 0;
  }
  const a = linearFromHalves(l, h);
  if (w === 8) c.mem.wr64(a, lo, hi);
  else c.mem.wr16(a, lo & 0xffff);
  c.lo[4] = l;
  c.hi[4] = h;
}

/** Pop `w` bytes (8 or 2): returns lo, `c.th` = hi. */
export function pop(c: Cpu, w: number): number {
  const a = linearFromHalves(c.lo[4]!, c.hi[4]!);
  let lo: number;
  if (w === 8) {
    lo = c.mem.rd64(a);
    c.th = c.mem.hi;
  } else {
    lo = c.mem.rd16(a);
    c.th = 0;
  }
  regAdd(c, 4, w);
  return lo;
}

// ---------------------------------------------------------------------------------------------
// Condition closures

const COND: ((c: Cpu) => boolean)[] = [
  () => true,
  (c) => c.of !== 0,
  (c) => c.of === 0,
  (c) => c.cf !== 0,
  (c) => c.cf === 0,
  (c) => c.zf !== 0,
  (c) => c.zf === 0,
  (c) => (c.cf | c.zf) !== 0,
  (c) => (c.cf | c.zf) === 0,
  (c) => c.sf !== 0,
  (c) => c.sf === 0,
  (c) => c.pf !== 0,
  (c) => c.pf === 0,
  (c) => c.sf !== c.of,
  (c) => c.sf === c.of,
  (c) => c.zf !== 0 || c.sf !== c.of,
  (c) => c.zf === 0 && c.sf === c.of,
];

// ---------------------------------------------------------------------------------------------
// Builders

type Bin = (c: Cpu, w: number, a: number, ah: number, b: number, bh: number) => number;

const BIN: Partial<Record<number, Bin>> = {
  [M.Add]: (c, w, a, ah, b, bh) => add(c, w, a, ah, b, bh, 0),
  [M.Adc]: (c, w, a, ah, b, bh) => add(c, w, a, ah, b, bh, c.cf),
  [M.Sub]: (c, w, a, ah, b, bh) => sub(c, w, a, ah, b, bh, 0),
  [M.Sbb]: (c, w, a, ah, b, bh) => sub(c, w, a, ah, b, bh, c.cf),
  [M.Cmp]: (c, w, a, ah, b, bh) => sub(c, w, a, ah, b, bh, 0),
  [M.And]: (c, w, a, ah, b, bh) => {
    const r = w === 8 ? (a & b) >>> 0 : a & b;
    c.th = (ah & bh) >>> 0;
    logicFlags(c, w, r >>> 0, c.th);
    return r >>> 0;
  },
  [M.Test]: (c, w, a, ah, b, bh) => {
    const r = (a & b) >>> 0;
    c.th = (ah & bh) >>> 0;
    logicFlags(c, w, r, c.th);
    return r;
  },
  [M.Or]: (c, w, a, ah, b, bh) => {
    const r = (a | b) >>> 0;
    c.th = (ah | bh) >>> 0;
    logicFlags(c, w, r, c.th);
    return r;
  },
  [M.Xor]: (c, w, a, ah, b, bh) => {
    const r = (a ^ b) >>> 0;
    c.th = (ah ^ bh) >>> 0;
    logicFlags(c, w, r, c.th);
    return r;
  },
};

function binop(i: Insn, f: Bin, writeBack: boolean): Handler {
  const [d, s] = i.ops;
  const w = d!.w;
  const ra = reader(d!, w), rb = reader(s!, w), wa = writer(d!, w);
  if (ra === null || rb === null || (writeBack && wa === null)) return unimplemented(i, false);
  // Common fast forms: register destination.
  if (d!.kind === OPK_REG && w <= 4 && s!.kind === OPK_IMM && writeBack) {
    const bl = trunc(s!.immLo, w);
    return withEa(i, (c) => wa!(c, f(c, w, ra(c), 0, bl, 0), 0));
  }
  if (!writeBack) {
    return withEa(i, (c) => {
      const b = rb(c), bh = c.th;
      const a = ra(c);
      f(c, w, a, c.th, b, bh);
    });
  }
  return withEa(i, (c) => {
    const b = rb(c), bh = c.th;
    const a = ra(c);
    const r = f(c, w, a, c.th, b, bh);
    wa!(c, r, c.th);
  });
}

function unary(i: Insn, f: (c: Cpu, w: number, a: number, ah: number) => number): Handler {
  const d = i.ops[0]!;
  const w = d.w;
  const ra = reader(d, w), wa = writer(d, w);
  if (ra === null || wa === null) return unimplemented(i, false);
  return withEa(i, (c) => {
    const a = ra(c);
    const r = f(c, w, a, c.th);
    wa(c, r, c.th);
  });
}

function shiftOp(i: Insn, kind: number): Handler {
  const [d, s] = i.ops;
  const w = d!.w;
  const ra = reader(d!, w), wa = writer(d!, w);
  if (ra === null || wa === null) return unimplemented(i, false);
  let cnt: Rd;
  if (s === undefined) cnt = () => 1; // d0/d1 forms report an implicit 1 as an immediate
  else if (s.kind === OPK_IMM) {
    const v = s.immLo & 0xff;
    cnt = () => v;
  } else cnt = (c) => c.lo[1]! & 0xff; // cl
  return withEa(i, (c) => {
    const n = cnt(c);
    const a = ra(c);
    const r = shift(c, kind, w, a, c.th, n);
    // A masked count of 0 leaves the destination untouched, but a 32-bit register destination
    // is still zero-extended, as on hardware.
    wa(c, r, c.th);
  });
}

function shiftDoubleOp(i: Insn, left: boolean): Handler {
  const [d, s, k] = i.ops;
  const w = d!.w;
  const ra = reader(d!, w), rb = reader(s!, w), wa = writer(d!, w);
  if (ra === null || rb === null || wa === null) return unimplemented(i, false);
  const cnt: Rd = k!.kind === OPK_IMM ? () => k!.immLo & 0xff : (c) => c.lo[1]! & 0xff;
  return withEa(i, (c) => {
    const b = rb(c), bh = c.th;
    const a = ra(c);
    const r = shiftDouble(c, left, w, a, c.th, b, bh, cnt(c));
    wa(c, r, c.th);
  });
}

function mov(i: Insn): Handler {
  const [d, s] = i.ops;
  if (d!.rc === RC_SEG || s!.rc === RC_SEG) return movSeg(i);
  if (d!.rc === RC_CR || s!.rc === RC_CR || d!.rc === RC_DR || s!.rc === RC_DR) return movCrDr(i);
  const w = d!.w;
  const rb = reader(s!, w), wa = writer(d!, w);
  if (rb === null || wa === null) return unimplemented(i, false);
  if (d!.kind === OPK_REG && s!.kind === OPK_REG && w === 8) {
    const rd = d!.reg, rs = s!.reg;
    return (c) => {
      c.lo[rd] = c.lo[rs]!;
      c.hi[rd] = c.hi[rs]!;
    };
  }
  if (d!.kind === OPK_REG && s!.kind === OPK_MEM && w === 8) {
    const rd = d!.reg;
    const ea = eaFn(i.mem!);
    return (c) => {
      c.lo[rd] = c.mem.rd64(ea(c));
      c.hi[rd] = c.mem.hi;
    };
  }
  return withEa(i, (c) => {
    const v = rb(c);
    wa(c, v, c.th);
  });
}

function movSeg(i: Insn): Handler {
  const [d, s] = i.ops;
  if (d!.rc === RC_SEG) {
    const rs = reader(s!, 2);
    if (rs === null || d!.reg === 1) return unimplemented(i, false);
    const r = d!.reg;
    return withEa(i, (c) => {
      c.segs[r] = rs(c) & 0xffff;
    });
  }
  const w = d!.kind === OPK_MEM ? 2 : d!.w;
  const wd = writer(d!, w);
  if (wd === null) return unimplemented(i, false);
  const r = s!.reg;
  return withEa(i, (c) => wd(c, c.segs[r]!, 0));
}

function movCrDr(i: Insn): Handler {
  const [d, s] = i.ops;
  if (d!.rc === RC_GPR) {
    const arr = s!.rc === RC_CR ? "cr" : "dr";
    const n = s!.reg, r = d!.reg;
    return (c) => {
      const v = c[arr][n]!;
      c.lo[r] = Number(v & 0xffffffffn);
      c.hi[r] = Number(v >> 32n);
    };
  }
  const arr = d!.rc === RC_CR ? "cr" : "dr";
  const n = d!.reg, r = s!.reg;
  return (c) => {
    c[arr][n] = toBig(c.lo[r]!, c.hi[r]!);
    if (arr === "cr") c.hooks.serialize?.(c);
  };
}

function movExtend(i: Insn, signed: boolean): Handler {
  const [d, s] = i.ops;
  const w = d!.w, ws = s!.w;
  const rs = reader(s!, ws), wd = writer(d!, w);
  if (rs === null || wd === null) return unimplemented(i, false);
  if (!signed) return withEa(i, (c) => wd(c, rs(c), 0));
  if (w === 8) {
    return withEa(i, (c) => {
      const v = ws === 8 ? rs(c) : sext(rs(c), ws);
      wd(c, v >>> 0, ws === 8 ? c.th : v < 0 ? 0xffffffff : 0);
    });
  }
  return withEa(i, (c) => wd(c, trunc(sext(rs(c), ws), w), 0));
}

function lea(i: Insn): Handler {
  const d = i.ops[0]!;
  const wd = writer(d, d.w);
  if (i.mem === null || wd === null) return unimplemented(i, false);
  const f = leaFn(i.mem);
  const w = d.w;
  return (c) => {
    const lo = f(c);
    wd(c, w === 8 ? lo : trunc(lo, w), c.th);
  };
}

function xchg(i: Insn): Handler {
  const [a, b] = i.ops;
  const w = a!.w;
  const ra = reader(a!, w), rb = reader(b!, w), wa = writer(a!, w), wb = writer(b!, w);
  if (!ra || !rb || !wa || !wb) return unimplemented(i, false);
  return withEa(i, (c) => {
    const x = ra(c), xh = c.th;
    const y = rb(c), yh = c.th;
    if (i.mem !== null) c.mem.checkWrite(c.ea, w);
    wa(c, y, yh);
    wb(c, x, xh);
  });
}

function cmpxchg(i: Insn): Handler {
  const [d, s] = i.ops;
  const w = d!.w;
  const rd = reader(d!, w), rs = reader(s!, w), wd = writer(d!, w);
  const racc = rdReg(w, 0, false), wacc = wrReg(w, 0, false);
  if (!rd || !rs || !wd) return unimplemented(i, false);
  const isMem = d!.kind === OPK_MEM;
  return withEa(i, (c) => {
    const v = rd(c), vh = c.th;
    const acc = racc(c), acch = c.th;
    sub(c, w, acc, acch, v, vh, 0);
    if (c.zf) {
      const x = rs(c);
      wd(c, x, c.th);
    } else {
      if (isMem) wd(c, v, vh); // the locked cycle writes the old value back
      wacc(c, v, vh);
    }
  });
}

function xadd(i: Insn): Handler {
  const [d, s] = i.ops;
  const w = d!.w;
  const rd = reader(d!, w), rs = reader(s!, w), wd = writer(d!, w), ws = writer(s!, w);
  if (!rd || !rs || !wd || !ws) return unimplemented(i, false);
  return withEa(i, (c) => {
    const b = rs(c), bh = c.th;
    const a = rd(c), ah = c.th;
    const r = add(c, w, a, ah, b, bh, 0);
    const rh = c.th;
    if (i.mem !== null) c.mem.checkWrite(c.ea, w);
    ws(c, a, ah);
    wd(c, r, rh);
  });
}

function cmpxchg16b(i: Insn): Handler {
  const w = i.mnemonic === M.Cmpxchg16b ? 16 : 8;
  return withEa(i, (c) => {
    const a = c.ea;
    if (w === 16 && a % 16 !== 0) throw gp("cmpxchg16b operand is not 16-byte aligned");
    if (w === 16) {
      const l0 = c.mem.rd64(a), h0 = c.mem.hi;
      const l1 = c.mem.rd64(a + 8), h1 = c.mem.hi;
      if (l0 === c.lo[0] && h0 === c.hi[0] && l1 === c.lo[2] && h1 === c.hi[2]) {
        c.mem.checkWrite(a, 16);
        c.mem.wr64(a, c.lo[3]!, c.hi[3]!);
        c.mem.wr64(a + 8, c.lo[1]!, c.hi[1]!);
        c.zf = 1;
      } else {
        c.mem.checkWrite(a, 16);
        c.mem.wr64(a, l0, h0);
        c.mem.wr64(a + 8, l1, h1);
        c.lo[0] = l0, c.hi[0] = h0, c.lo[2] = l1, c.hi[2] = h1;
        c.zf = 0;
      }
    } else {
      const l = c.mem.rd32(a), h = c.mem.rd32(a + 4);
      if (l === c.lo[0] && h === c.lo[2]) {
        c.mem.wr64(a, c.lo[3]!, c.lo[1]!);
        c.zf = 1;
      } else {
        c.mem.wr64(a, l, h);
        c.lo[0] = l, c.hi[0] = 0, c.lo[2] = h, c.hi[2] = 0;
        c.zf = 0;
      }
    }
  });
}

function mulDiv(i: Insn): Handler {
  const m = i.mnemonic;
  const ops = i.ops;
  if (m === M.Imul && ops.length >= 2) {
    const d = ops[0]!, w = d.w;
    const ra = reader(ops.length === 3 ? ops[1]! : d, w);
    const rb = reader(ops.length === 3 ? ops[2]! : ops[1]!, w);
    const wd = writer(d, w);
    if (!ra || !rb || !wd) return unimplemented(i, false);
    return withEa(i, (c) => {
      const b = rb(c), bh = c.th;
      const a = ra(c), ah = c.th;
      if (w === 8) {
        mul64(a, ah, b, bh, true);
        const lo = PRODUCT[0]!, hi = PRODUCT[1]!;
        const ext = (hi | 0) < 0 ? 0xffffffff : 0;
        mulFlags(c, 8, lo, hi, PRODUCT[2] !== ext || PRODUCT[3] !== ext);
        wd(c, lo, hi);
      } else if (w === 4) {
        const full = (a | 0) * (b | 0);
        const lo = Math.imul(a, b) >>> 0;
        mulFlags(c, 4, lo, 0, full < -2147483648 || full >= 2147483648);
        wd(c, lo, 0);
      } else {
        const full = sext(a, w) * sext(b, w);
        const lo = trunc(full, w);
        mulFlags(c, w, lo, 0, sext(lo, w) !== full);
        wd(c, lo, 0);
      }
    });
  }
  const s = ops[0]!, w = s.w;
  const rs = reader(s, w);
  if (!rs) return unimplemented(i, false);
  const signed = m === M.Imul || m === M.Idiv;
  const isDiv = m === M.Div || m === M.Idiv;
  const bits = BigInt(w * 8);
  const wmask = (1n << bits) - 1n;
  // Accumulator pair: ah:al for bytes (ax), else rdx:rax at the operand width.
  const getAcc = (c: Cpu): bigint => {
    if (w === 1) return BigInt(c.lo[0]! & 0xffff);
    const a = w === 8 ? toBig(c.lo[0]!, c.hi[0]!) : BigInt(trunc(c.lo[0]!, w));
    const d = w === 8 ? toBig(c.lo[2]!, c.hi[2]!) : BigInt(trunc(c.lo[2]!, w));
    return (d << bits) | a;
  };
  const setPair = (c: Cpu, lo: bigint, hi: bigint) => {
    if (w === 1) {
      c.lo[0] = (c.lo[0]! & 0xffff0000) | Number(lo & 0xffn) | (Number(hi & 0xffn) << 8);
      return;
    }
    const wa = wrReg(w, 0, false), wdx = wrReg(w, 2, false);
    const l = lo & wmask, h = hi & wmask;
    wa(c, Number(l & 0xffffffffn), Number(l >> 32n));
    wdx(c, Number(h & 0xffffffffn), Number(h >> 32n));
  };
  if (!isDiv && w === 8) {
    return withEa(i, (c) => {
      const x = rs(c), xh = c.th;
      mul64(c.lo[0]!, c.hi[0]!, x, xh, signed);
      const p0 = PRODUCT[0]!, p1 = PRODUCT[1]!, p2 = PRODUCT[2]!, p3 = PRODUCT[3]!;
      c.lo[0] = p0, c.hi[0] = p1, c.lo[2] = p2, c.hi[2] = p3;
      const ext = signed && (p1 | 0) < 0 ? 0xffffffff : 0;
      mulFlags(c, 8, p0, p1, p2 !== ext || p3 !== ext);
    });
  }
  if (!isDiv) {
    return withEa(i, (c) => {
      const x = rs(c), xh = c.th;
      let a = w === 8 ? toBig(c.lo[0]!, c.hi[0]!) : BigInt(trunc(c.lo[0]!, w));
      let b = w === 8 ? toBig(x, xh) : BigInt(x);
      if (signed) {
        a = BigInt.asIntN(w * 8, a);
        b = BigInt.asIntN(w * 8, b);
      }
      const p = a * b;
      const lo = BigInt.asUintN(w * 8, p), hi = BigInt.asUintN(w * 8, p >> bits);
      setPair(c, lo, hi);
      const over = signed ? BigInt.asIntN(w * 8, p) !== p : hi !== 0n;
      mulFlags(c, w, Number(lo & 0xffffffffn), Number(lo >> 32n), over);
    });
  }
  return withEa(i, (c) => {
    const x = rs(c), xh = c.th;
    let divisor = w === 8 ? toBig(x, xh) : BigInt(x);
    if (divisor === 0n) throw new CpuFault("DE", `Divide by zero at ${hex(i.ip)}`);
    let dividend = getAcc(c);
    if (signed) {
      dividend = BigInt.asIntN(w * 16, dividend);
      divisor = BigInt.asIntN(w * 8, divisor);
    }
    const q = dividend / divisor; // truncates toward zero, like idiv
    const r = dividend % divisor;
    const ok = signed ? BigInt.asIntN(w * 8, q) === q : q <= wmask;
    if (!ok) throw new CpuFault("DE", `Divide overflow at ${hex(i.ip)}`);
    setPair(c, BigInt.asUintN(w * 8, q), BigInt.asUintN(w * 8, r));
  });
}

function bitTest(i: Insn): Handler {
  const m = i.mnemonic;
  const [d, s] = i.ops;
  const w = d!.w, bits = w * 8;
  const op = m === M.Bt ? 0 : m === M.Bts ? 1 : m === M.Btr ? 2 : 3;
  const isMem = d!.kind === OPK_MEM;
  const rs = reader(s!, s!.kind === OPK_IMM ? 1 : w);
  if (!rs) return unimplemented(i, false);
  const regOff = s!.kind !== OPK_IMM;
  return withEa(i, (c) => {
    let off = rs(c);
    const offh = c.th;
    let addr = c.ea;
    if (isMem && regOff) {
      // Register bit offsets are signed and may address outside the operand.
      const big = w === 8 ? BigInt.asIntN(64, toBig(off, offh)) : BigInt(sext(off, w));
      const B = BigInt(bits);
      let q = big / B;
      let r = big % B;
      if (r < 0n) {
        r += B;
        q -= 1n;
      }
      addr = addr + Number(q) * w;
      if (!(addr >= -0x800000000000 && addr < 0x800000000000)) throw gp("Bit offset out of range");
      off = Number(r);
    } else off = off % bits;
    let lo: number, hi: number;
    const r = isMem ? null : i.ops[0]!.reg;
    if (isMem) {
      lo = c.mem.rd(addr, w);
      hi = w === 8 ? c.mem.hi : 0;
    } else {
      lo = c.lo[r!]!;
      hi = c.hi[r!]!;
      if (w < 4) lo = trunc(lo, w);
    }
    const inHi = off >= 32;
    const bit = 1 << (off & 31);
    const word = inHi ? hi : lo;
    c.cf = (word & bit) !== 0 ? 1 : 0;
    if (op === 0) return;
    const nw = (op === 1 ? word | bit : op === 2 ? word & ~bit : word ^ bit) >>> 0;
    if (inHi) hi = nw;
    else lo = nw;
    if (isMem) c.mem.wr(addr, w, lo, hi);
    else wrReg(w, r!, false)(c, lo, hi);
  });
}

function bitScan(i: Insn): Handler {
  const m = i.mnemonic;
  const [d, s] = i.ops;
  const w = d!.w;
  const rs = reader(s!, w), wd = writer(d!, w);
  if (!rs || !wd) return unimplemented(i, false);
  const bits = w * 8;
  return withEa(i, (c) => {
    const lo = rs(c);
    const hi = w === 8 ? c.th : 0;
    const zero = (lo | hi) === 0;
    switch (m) {
      case M.Bsf:
      case M.Bsr: {
        c.zf = zero ? 1 : 0;
        // Undefined flags: Intel leaves CF/OF/SF/AF/PF as computed from the source; use 0/parity.
        c.cf = 0, c.of = 0, c.sf = 0, c.af = 0;
        c.pf = PARITY[0]!;
        if (zero) {
          // Destination unchanged (AMD documents it, Intel does it), but a 32-bit destination
          // register is not zero-extended then either.
          return;
        }
        const v = m === M.Bsf ? ctz64(lo, hi) : bits - 1 - clz(w, lo, hi);
        wd(c, v, 0);
        c.pf = PARITY[v & 0xff]!;
        return;
      }
      case M.Tzcnt: {
        const v = zero ? bits : ctz64(lo, hi);
        c.cf = zero ? 1 : 0;
        c.zf = v === 0 ? 1 : 0;
        wd(c, v, 0);
        return;
      }
      case M.Lzcnt: {
        const v = clz(w, lo, hi);
        c.cf = zero ? 1 : 0;
        c.zf = v === 0 ? 1 : 0;
        wd(c, v, 0);
        return;
      }
      default: { // popcnt
        const v = popcount32(lo) + popcount32(hi);
        c.cf =
          c.of =
          c.sf =
          c.af =
          c.pf =
            0;
        c.zf = zero ? 1 : 0;
        wd(c, v, 0);
      }
    }
  });
}

function bswap(i: Insn): Handler {
  const d = i.ops[0]!;
  const r = d.reg;
  const sw = (v: number) =>
    (((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24)) >>> 0;
  if (d.w === 8) {
    return (c) => {
      const lo = c.lo[r]!, hi = c.hi[r]!;
      c.lo[r] = sw(hi);
      c.hi[r] = sw(lo);
    };
  }
  if (d.w === 4) {
    return (c) => {
      c.lo[r] = sw(c.lo[r]!);
      c.hi[r] = 0;
    };
  }
  return (c) => {
    c.lo[r] = c.lo[r]! & 0xffff0000; // bswap r16 is undefined; hardware gives 0
  };
}

function pushOp(i: Insn): Handler {
  const s = i.ops[0]!;
  if (s.rc === RC_SEG) {
    const r = s.reg;
    return (c) => push(c, 8, c.segs[r]!, 0);
  }
  const w = s.kind === OPK_IMM ? (i.bytes[0] === 0x66 ? 2 : 8) : s.w;
  const rs = reader(s, w);
  if (!rs || (w !== 8 && w !== 2)) return unimplemented(i, false);
  return withEa(i, (c) => {
    const v = rs(c);
    push(c, w, v, w === 8 ? c.th : 0);
  });
}

function popOp(i: Insn): Handler {
  const d = i.ops[0]!;
  if (d.rc === RC_SEG) {
    const r = d.reg;
    return (c) => {
      c.segs[r] = pop(c, 8) & 0xffff;
    };
  }
  const w = d.w;
  const wd = writer(d, w);
  if (!wd || (w !== 8 && w !== 2)) return unimplemented(i, false);
  if (i.mem === null) {
    return (c) => {
      const v = pop(c, w);
      wd(c, v, c.th);
    };
  }
  // pop [rsp+x] computes its address after incrementing rsp.
  const ea = eaFn(i.mem);
  return (c) => {
    const lo = c.lo[4]!, hi = c.hi[4]!;
    const v = pop(c, w), vh = c.th;
    try {
      c.ea = ea(c);
      wd(c, v, vh);
    } catch (e) {
      c.lo[4] = lo;
      c.hi[4] = hi;
      throw e;
    }
  };
}

function callOp(i: Insn): Handler {
  const ret = i.next;
  const rlo = ret >>> 0, rhi = Math.floor(ret / TWO32) >>> 0;
  if (!Number.isNaN(i.target)) {
    const t = i.target;
    return (c) => {
      push(c, 8, rlo, rhi);
      c.rip = t;
      c.calls.onCall(i.ip, t, ret, regLin(c, 4));
    };
  }
  const s = i.ops[0]!;
  const rs = reader(s, 8);
  if (!rs || s.w !== 8) return unimplemented(i, s.kind === OPK_MEM && s.w !== 8); // far: by design
  return withEa(i, (c) => {
    const lo = rs(c);
    const t = canonOrGp(linearFromHalves(lo, c.th));
    push(c, 8, rlo, rhi);
    c.rip = t;
    c.calls.onCall(i.ip, t, ret, regLin(c, 4));
  });
}

function retOp(i: Insn): Handler {
  const extra = i.ops.length > 0 ? i.ops[0]!.immLo & 0xffff : 0;
  return (c) => {
    const slot = regLin(c, 4);
    const lo = c.mem.rd64(slot);
    const t = canonOrGp(linearFromHalves(lo, c.mem.hi));
    regAdd(c, 4, 8 + extra);
    c.rip = t;
    c.calls.onReturn(slot, t);
  };
}

function jmpOp(i: Insn): Handler {
  if (!Number.isNaN(i.target)) {
    const t = i.target;
    return (c) => {
      c.rip = t;
    };
  }
  const s = i.ops[0]!;
  const rs = reader(s, 8);
  if (!rs || s.w !== 8) return unimplemented(i, s.kind === OPK_MEM && s.w !== 8); // far: by design
  return withEa(i, (c) => {
    const lo = rs(c);
    c.rip = canonOrGp(linearFromHalves(lo, c.th));
  });
}

function loopOp(i: Insn): Handler {
  const t = i.target;
  const m = i.mnemonic;
  if (m === M.Jrcxz) return (c) => void ((c.lo[1]! | c.hi[1]!) === 0 && (c.rip = t));
  if (m === M.Jecxz) return (c) => void (c.lo[1] === 0 && (c.rip = t));
  return (c) => {
    regAdd(c, 1, -1);
    const nz = (c.lo[1]! | c.hi[1]!) !== 0;
    const ok = m === M.Loop ? nz : m === M.Loope ? nz && c.zf === 1 : nz && c.zf === 0;
    if (ok) c.rip = t;
  };
}

// ---------------------------------------------------------------------------------------------
// String instructions

const STR_MOVS = 0, STR_STOS = 1, STR_LODS = 2, STR_CMPS = 3, STR_SCAS = 4;

function stringOp(i: Insn, kind: number, w: number): Handler {
  const rep = i.rep || i.repne;
  const repne = i.repne;
  const seg = i.segPrefix === 4 ? 4 : i.segPrefix === 5 ? 5 : 0;
  const src = (c: Cpu): number => {
    const a = regLin(c, 6);
    return seg === 0 ? a : segAdd(seg === 4 ? c.fsBase : c.gsBase, a);
  };
  const once = (c: Cpu): void => {
    const d = c.df ? -w : w;
    switch (kind) {
      case STR_MOVS: {
        const v = c.mem.rd(src(c), w);
        c.mem.wr(regLin(c, 7), w, v, c.mem.hi);
        regAdd(c, 6, d);
        regAdd(c, 7, d);
        return;
      }
      case STR_STOS:
        c.mem.wr(regLin(c, 7), w, w === 8 ? c.lo[0]! : trunc(c.lo[0]!, w), c.hi[0]!);
        regAdd(c, 7, d);
        return;
      case STR_LODS: {
        const v = c.mem.rd(src(c), w);
        wrReg(w, 0, false)(c, v, c.mem.hi);
        regAdd(c, 6, d);
        return;
      }
      case STR_CMPS: {
        const a = c.mem.rd(src(c), w), ah = c.mem.hi;
        const b = c.mem.rd(regLin(c, 7), w), bh = c.mem.hi;
        sub(c, w, a, ah, b, bh, 0);
        regAdd(c, 6, d);
        regAdd(c, 7, d);
        return;
      }
      default: {
        const b = c.mem.rd(regLin(c, 7), w), bh = c.mem.hi;
        sub(c, w, w === 8 ? c.lo[0]! : trunc(c.lo[0]!, w), c.hi[0]!, b, bh, 0);
        regAdd(c, 7, d);
      }
    }
  };
  if (!rep) return once;
  const conditional = kind === STR_CMPS || kind === STR_SCAS;
  return (c, ins) => {
    let n = 0;
    while ((c.lo[1]! | c.hi[1]!) !== 0) {
      if (n === REP_CHUNK) {
        c.rip = ins.ip; // resume later; interrupts and other CPUs may run in between
        break;
      }
      once(c);
      regAdd(c, 1, -1);
      n++;
      if (conditional && (repne ? c.zf === 1 : c.zf === 0)) break;
    }
    if (n > 1) c.extra += n - 1;
  };
}

function stringKind(m: number): [number, number] | null {
  switch (m) {
    case M.Movsb:
      return [STR_MOVS, 1];
    case M.Movsw:
      return [STR_MOVS, 2];
    case M.Movsd:
      return [STR_MOVS, 4];
    case M.Movsq:
      return [STR_MOVS, 8];
    case M.Stosb:
      return [STR_STOS, 1];
    case M.Stosw:
      return [STR_STOS, 2];
    case M.Stosd:
      return [STR_STOS, 4];
    case M.Stosq:
      return [STR_STOS, 8];
    case M.Lodsb:
      return [STR_LODS, 1];
    case M.Lodsw:
      return [STR_LODS, 2];
    case M.Lodsd:
      return [STR_LODS, 4];
    case M.Lodsq:
      return [STR_LODS, 8];
    case M.Cmpsb:
      return [STR_CMPS, 1];
    case M.Cmpsw:
      return [STR_CMPS, 2];
    case M.Cmpsd:
      return [STR_CMPS, 4];
    case M.Cmpsq:
      return [STR_CMPS, 8];
    case M.Scasb:
      return [STR_SCAS, 1];
    case M.Scasw:
      return [STR_SCAS, 2];
    case M.Scasd:
      return [STR_SCAS, 4];
    case M.Scasq:
      return [STR_SCAS, 8];
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// SSE moves and logic (what memcpy/memset-like code may use)

function xmmOp(i: Insn): Handler | null {
  const m = i.mnemonic;
  const [d, s] = i.ops;
  if (!d || !s) return null;
  const full = m === M.Movdqa || m === M.Movdqu || m === M.Movaps || m === M.Movups ||
    m === M.Movapd || m === M.Movupd || m === M.Movntdq || m === M.Movntps || m === M.Movntpd ||
    m === M.Lddqu;
  const aligned = m === M.Movdqa || m === M.Movaps || m === M.Movapd || m === M.Movntdq ||
    m === M.Movntps || m === M.Movntpd;
  if (full) {
    return withEa(i, (c) => {
      if (aligned && s.kind === OPK_MEM && c.ea % 16 !== 0) throw gp("Unaligned 16-byte access");
      if (aligned && d.kind === OPK_MEM && c.ea % 16 !== 0) throw gp("Unaligned 16-byte access");
      const v = readX(c, s);
      writeX(c, d, v, 4);
    });
  }
  const logic = m === M.Pxor || m === M.Xorps || m === M.Xorpd || m === M.Por || m === M.Orps ||
    m === M.Orpd || m === M.Pand || m === M.Andps || m === M.Andpd || m === M.Pandn ||
    m === M.Andnps || m === M.Andnpd;
  if (logic && d.rc === RC_XMM) {
    const f = m === M.Pxor || m === M.Xorps || m === M.Xorpd
      ? (a: number, b: number) => a ^ b
      : m === M.Por || m === M.Orps || m === M.Orpd
      ? (a: number, b: number) => a | b
      : m === M.Pand || m === M.Andps || m === M.Andpd
      ? (a: number, b: number) => a & b
      : (a: number, b: number) => ~a & b;
    return withEa(i, (c) => {
      if (s.kind === OPK_MEM && c.ea % 16 !== 0) throw gp("Unaligned 16-byte access");
      const b = readX(c, s);
      const base = d.reg * 4;
      for (let k = 0; k < 4; k++) c.xmm[base + k] = f(c.xmm[base + k]!, b[k]!);
    });
  }
  if (m === M.Movq || m === M.Movd) {
    const w = m === M.Movq ? 8 : 4;
    if (d.rc === RC_XMM) {
      const rs = s.rc === RC_XMM ? null : reader(s, w);
      return withEa(i, (c) => {
        let lo: number, hi = 0;
        if (rs === null) {
          lo = c.xmm[s.reg * 4]!;
          hi = c.xmm[s.reg * 4 + 1]!;
        } else {
          lo = rs(c);
          if (w === 8) hi = c.th;
        }
        const b = d.reg * 4;
        c.xmm[b] = lo, c.xmm[b + 1] = hi, c.xmm[b + 2] = 0, c.xmm[b + 3] = 0;
      });
    }
    if (s.rc === RC_XMM) {
      const wd = writer(d, w);
      if (!wd) return null;
      return withEa(i, (c) => wd(c, c.xmm[s.reg * 4]!, c.xmm[s.reg * 4 + 1]!));
    }
  }
  return null;
}

function readX(c: Cpu, o: Operand): number[] {
  if (o.rc === RC_XMM) return Array.from(c.xmm.subarray(o.reg * 4, o.reg * 4 + 4));
  return [c.mem.rd32(c.ea), c.mem.rd32(c.ea + 4), c.mem.rd32(c.ea + 8), c.mem.rd32(c.ea + 12)];
}

function writeX(c: Cpu, o: Operand, v: number[], n: number): void {
  if (o.rc === RC_XMM) {
    for (let k = 0; k < n; k++) c.xmm[o.reg * 4 + k] = v[k]!;
    return;
  }
  c.mem.checkWrite(c.ea, n * 4);
  for (let k = 0; k < n; k++) c.mem.wr32(c.ea + 4 * k, v[k]!);
}

// ---------------------------------------------------------------------------------------------
// System instructions

function serialize(c: Cpu): void {
  c.hooks.serialize?.(c);
}

function readMsr(c: Cpu, idx: number): bigint {
  const h = c.hooks.rdmsr?.(c, idx);
  if (h !== undefined) return BigInt.asUintN(64, h);
  switch (idx) {
    case MSR_FS_BASE:
      return fromLinear(c.fsBase);
    case MSR_GS_BASE:
      return fromLinear(c.gsBase);
    case MSR_KERNEL_GS_BASE:
      return fromLinear(c.kernelGsBase);
    case MSR_TSC:
      return tsc(c);
  }
  const v = c.msrs.get(idx);
  if (v === undefined) throw gp(`rdmsr of unknown MSR 0x${idx.toString(16)}`);
  return v;
}

function writeMsr(c: Cpu, idx: number, v: bigint): void {
  if (c.hooks.wrmsr?.(c, idx, v) === false) {
    throw gp(`wrmsr to MSR 0x${idx.toString(16)} refused`);
  }
  const lin = (): number => {
    const s = BigInt.asIntN(64, v);
    if (s < -0x800000000000n || s >= 0x800000000000n) throw gp("Non-canonical base address");
    return Number(s);
  };
  switch (idx) {
    case MSR_FS_BASE:
      c.fsBase = lin();
      return;
    case MSR_GS_BASE:
      c.gsBase = lin();
      return;
    case MSR_KERNEL_GS_BASE:
      c.kernelGsBase = lin();
      return;
  }
  c.msrs.set(idx, v);
}

function tsc(c: Cpu): bigint {
  return c.hooks.tsc ? BigInt.asUintN(64, c.hooks.tsc(c)) : BigInt(c.icount);
}

function setEdxEax(c: Cpu, v: bigint): void {
  c.lo[0] = Number(v & 0xffffffffn);
  c.hi[0] = 0;
  c.lo[2] = Number((v >> 32n) & 0xffffffffn);
  c.hi[2] = 0;
}

function xorshift(c: Cpu): number {
  let x = c.randState;
  x ^= x << 13;
  x ^= x >>> 17;
  x ^= x << 5;
  c.randState = x >>> 0;
  return c.randState;
}

function system(i: Insn): Handler | null {
  const m = i.mnemonic;
  if (NOP_MNEMONICS.has(m)) return () => {};
  switch (m) {
    case M.Pause:
      return (c) => {
        if (c.yieldOnPause) c.stop = 3;
      };
    case M.Ud2:
      return () => {
        throw new CpuFault("UD2", `ud2 at ${hex(i.ip)}`, { rip: fromLinear(i.ip) });
      };
    case M.Int3:
      return () => {
        throw new CpuFault("BP", `int3 at ${hex(i.ip)}`, { rip: fromLinear(i.ip) });
      };
    case M.Hlt:
      return (c) => {
        c.halted = true;
        c.stop = 2;
      };
    case M.Cli:
      return (c) => void (c.flagsOther &= ~0x200);
    case M.Sti:
      return (c) => void (c.flagsOther |= 0x200);
    case M.Cld:
      return (c) => void (c.df = 0);
    case M.Std:
      return (c) => void (c.df = 1);
    case M.Clc:
      return (c) => void (c.cf = 0);
    case M.Stc:
      return (c) => void (c.cf = 1);
    case M.Cmc:
      return (c) => void (c.cf ^= 1);
    case M.Lahf:
      return (c) => {
        const f = getRflags(c) & 0xff;
        c.lo[0] = (c.lo[0]! & 0xffff00ff) | (f << 8);
      };
    case M.Sahf:
      return (c) => {
        const ah = (c.lo[0]! >>> 8) & 0xd5;
        setRflags(c, (getRflags(c) & ~0xd5) | ah);
      };
    case M.Pushfq:
    case M.Pushf:
      return (c) => push(c, m === M.Pushfq ? 8 : 2, getRflags(c) & 0xfcffff, 0);
    case M.Popfq:
    case M.Popf:
      return (c) => {
        const v = pop(c, m === M.Popfq ? 8 : 2);
        setRflags(c, m === M.Popfq ? v : (getRflags(c) & 0xffff0000) | v);
      };
    case M.Cpuid:
      return (c) => {
        const r = c.model.cpuid(c.lo[0]!, c.lo[1]!);
        const regs = [r.eax, r.ecx, r.edx, r.ebx];
        for (let k = 0; k < 4; k++) {
          c.lo[k] = regs[k]!;
          c.hi[k] = 0;
        }
        serialize(c);
      };
    case M.Rdtsc:
      return (c) => setEdxEax(c, tsc(c));
    case M.Rdtscp:
      return (c) => {
        setEdxEax(c, tsc(c));
        c.lo[1] = Number((c.msrs.get(MSR_TSC_AUX) ?? BigInt(c.index)) & 0xffffffffn);
        c.hi[1] = 0;
      };
    case M.Rdmsr:
      return (c) => setEdxEax(c, readMsr(c, c.lo[1]!));
    case M.Wrmsr:
      return (c) => {
        writeMsr(c, c.lo[1]!, (BigInt(c.lo[2]!) << 32n) | BigInt(c.lo[0]!));
        serialize(c);
      };
    case M.Swapgs:
      return (c) => {
        const t = c.gsBase;
        c.gsBase = c.kernelGsBase;
        c.kernelGsBase = t;
      };
    case M.Rdfsbase:
    case M.Rdgsbase: {
      const d = i.ops[0]!;
      const wd = wrReg(d.w, d.reg, false);
      return (c) => {
        const v = m === M.Rdfsbase ? c.fsBase : c.gsBase;
        wd(c, v >>> 0, Math.floor(v / TWO32) >>> 0);
      };
    }
    case M.Wrfsbase:
    case M.Wrgsbase: {
      const s = i.ops[0]!;
      const r = s.reg;
      return (c) => {
        const v = s.w === 8 ? linearFromHalves(c.lo[r]!, c.hi[r]!) : c.lo[r]!;
        const a = canonOrGp(v);
        if (m === M.Wrfsbase) c.fsBase = a;
        else c.gsBase = a;
      };
    }
    case M.Xgetbv:
      return (c) => {
        if (c.lo[1] !== 0) throw gp("xgetbv of unknown XCR");
        setEdxEax(c, c.xcr0);
      };
    case M.Xsetbv:
      return (c) => {
        if (c.lo[1] !== 0) throw gp("xsetbv of unknown XCR");
        c.xcr0 = (BigInt(c.lo[2]!) << 32n) | BigInt(c.lo[0]!);
      };
    case M.Rdrand:
    case M.Rdseed: {
      const d = i.ops[0]!;
      const wd = wrReg(d.w, d.reg, false);
      return (c) => {
        const lo = xorshift(c), hi = xorshift(c);
        wd(c, d.w === 8 ? lo : trunc(lo, d.w), hi);
        c.cf = 1;
        c.of =
          c.sf =
          c.zf =
          c.af =
          c.pf =
            0;
      };
    }
    case M.Clts:
      return (c) => void (c.cr[0] = c.cr[0]! & ~8n);
    case M.Wbinvd:
    case M.Wbnoinvd:
    case M.Invd:
    case M.Serialize:
      return serialize;
    case M.Invlpg:
      return serialize;
    case M.Lgdt:
    case M.Lidt:
      return withEa(i, (c) => {
        const limit = c.mem.rd16(c.ea);
        const lo = c.mem.rd64(c.ea + 2);
        const base = toBig(lo, c.mem.hi);
        if (m === M.Lgdt) c.tables.gdtBase = base, c.tables.gdtLimit = limit;
        else c.tables.idtBase = base, c.tables.idtLimit = limit;
        serialize(c);
      });
    case M.Sgdt:
    case M.Sidt:
      return withEa(i, (c) => {
        const gdt = m === M.Sgdt;
        const base = gdt ? c.tables.gdtBase : c.tables.idtBase;
        c.mem.checkWrite(c.ea, 10);
        c.mem.wr16(c.ea, gdt ? c.tables.gdtLimit : c.tables.idtLimit);
        c.mem.wr64(c.ea + 2, Number(base & 0xffffffffn), Number(base >> 32n));
      });
    case M.Ltr:
    case M.Lldt: {
      const rs = reader(i.ops[0]!, 2);
      if (!rs) return null;
      return withEa(i, (c) => {
        const v = rs(c) & 0xffff;
        if (m === M.Ltr) c.tables.tr = v;
        else c.tables.ldtr = v;
        serialize(c);
      });
    }
    case M.Str:
    case M.Sldt: {
      const d = i.ops[0]!;
      const wd = writer(d, d.kind === OPK_MEM ? 2 : d.w);
      if (!wd) return null;
      return withEa(i, (c) => wd(c, m === M.Str ? c.tables.tr : c.tables.ldtr, 0));
    }
    case M.Iretq:
      return (c) => {
        const slot = regLin(c, 4);
        const rip = canonOrGp(linearFromHalves(pop(c, 8), c.th));
        c.segs[1] = pop(c, 8) & 0xffff;
        const fl = pop(c, 8);
        const rsp = pop(c, 8), rsph = c.th;
        c.segs[2] = pop(c, 8) & 0xffff;
        c.lo[4] = rsp;
        c.hi[4] = rsph;
        setRflags(c, fl);
        c.rip = rip;
        c.calls.onReturn(slot, rip);
        serialize(c);
      };
    case M.In:
    case M.Out:
      return ioOp(i);
    case M.Enter: {
      const size = i.ops[0]!.immLo & 0xffff;
      const level = i.ops[1]!.immLo & 0x1f;
      if (level !== 0) return null;
      return (c) => {
        push(c, 8, c.lo[5]!, c.hi[5]!);
        c.lo[5] = c.lo[4]!;
        c.hi[5] = c.hi[4]!;
        regAdd(c, 4, -size);
      };
    }
    case M.Leave:
      return (c) => {
        const lo = c.lo[4]!, hi = c.hi[4]!;
        c.lo[4] = c.lo[5]!;
        c.hi[4] = c.hi[5]!;
        try {
          const v = pop(c, 8);
          c.lo[5] = v;
          c.hi[5] = c.th;
        } catch (e) {
          c.lo[4] = lo;
          c.hi[4] = hi;
          throw e;
        }
      };
    case M.Cbw:
      return (c) => void (c.lo[0] = (c.lo[0]! & 0xffff0000) | (sext(c.lo[0]! & 0xff, 1) & 0xffff));
    case M.Cwde:
      return (c) => {
        c.lo[0] = sext(c.lo[0]! & 0xffff, 2) >>> 0;
        c.hi[0] = 0;
      };
    case M.Cdqe:
      return (c) => void (c.hi[0] = (c.lo[0]! | 0) < 0 ? 0xffffffff : 0);
    case M.Cwd:
      return (c) =>
        void (c.lo[2] = (c.lo[2]! & 0xffff0000) | ((c.lo[0]! & 0x8000) !== 0 ? 0xffff : 0));
    case M.Cdq:
      return (c) => {
        c.lo[2] = (c.lo[0]! | 0) < 0 ? 0xffffffff : 0;
        c.hi[2] = 0;
      };
    case M.Cqo:
      return (c) => {
        const v = (c.hi[0]! | 0) < 0 ? 0xffffffff : 0;
        c.lo[2] = v;
        c.hi[2] = v;
      };
  }
  return null;
}

function ioOp(i: Insn): Handler | null {
  const isIn = i.mnemonic === M.In;
  const [a, b] = i.ops;
  const data = isIn ? a! : b!;
  const port = isIn ? b! : a!;
  const w = data.w;
  const getPort: Rd = port.kind === OPK_IMM ? () => port.immLo & 0xff : (c) => c.lo[2]! & 0xffff;
  return (c) => {
    const p = getPort(c);
    if (!c.hooks.io) {
      throw new CpuFault("IO", `Port I/O to 0x${p.toString(16)} without a handler at ${hex(i.ip)}`);
    }
    if (isIn) wrReg(w, 0, false)(c, trunc(c.hooks.io(c, p, w, undefined), w), 0);
    else c.hooks.io(c, p, w, trunc(c.lo[0]!, w));
  };
}

// Instruction families that are deliberately not modelled.
const BY_DESIGN = new Set<number>([
  M.Vmread,
  M.Vmwrite,
  M.Vmlaunch,
  M.Vmresume,
  M.Vmptrld,
  M.Vmptrst,
  M.Vmclear,
  M.Vmxon,
  M.Vmxoff,
  M.Vmcall,
  M.Vmfunc,
  M.Invept,
  M.Invvpid,
  M.Vmrun,
  M.Vmload,
  M.Vmsave,
  M.Vmmcall,
  M.Stgi,
  M.Clgi,
  M.Invlpga,
  M.Skinit,
  M.Invpcid,
  M.Xsave,
  M.Xsaveopt,
  M.Xsavec,
  M.Xsaves,
  M.Xrstor,
  M.Xrstors,
  M.Fxsave,
  M.Fxrstor,
  M.Fxsave64,
  M.Fxrstor64,
  M.Xsave64,
  M.Xsaveopt64,
  M.Xsavec64,
  M.Xsaves64,
  M.Xrstor64,
  M.Xrstors64,
  M.Fninit,
  M.Fnstcw,
  M.Fldcw,
  M.Fnstsw,
  M.Ldmxcsr,
  M.Stmxcsr,
  M.Xbegin,
  M.Xend,
  M.Xabort,
  M.Xtest,
  M.Wrssq,
  M.Wrssd,
  M.Rdsspq,
  M.Rdsspd,
  M.Incsspq,
  M.Incsspd,
  M.Saveprevssp,
  M.Rstorssp,
  M.Setssbsy,
  M.Clrssbsy,
  M.Wrpkru,
  M.Rdpkru,
  M.Movdiri,
  M.Movdir64b,
  M.Enqcmd,
  M.Enqcmds,
  M.Vpxor,
  M.Vpor,
  M.Vzeroupper,
  M.Int,
  M.Int1,
  M.Into,
  M.Sysret,
  M.Sysretq,
  M.Sysexitq,
  M.Syscall,
  M.Sysenter,
  M.Retf,
  M.Lar,
  M.Lsl,
  M.Verr,
  M.Verw,
  M.Outsb,
  M.Outsw,
  M.Outsd,
  M.Insb,
  M.Insw,
  M.Insd,
  M.Crc32,
  M.Mwait,
  M.Monitor,
  M.Rdpid,
  M.Rdpmc,
]);

// ---------------------------------------------------------------------------------------------

function build(i: Insn): Handler {
  if (i.code === 0) {
    i.impl = IMPL_NO;
    return () => {
      throw ud(i, "Invalid instruction");
    };
  }
  if (i.impl !== IMPL_YES) return unimplemented(i, false);
  const m = i.mnemonic;
  const bin = BIN[m];
  if (bin !== undefined) return binop(i, bin, m !== M.Cmp && m !== M.Test);
  switch (m) {
    case M.Mov:
    case M.Movnti: // a non-temporal hint only
      return mov(i);
    case M.Movzx:
      return movExtend(i, false);
    case M.Movsx:
    case M.Movsxd:
      return movExtend(i, true);
    case M.Lea:
      return lea(i);
    case M.Inc:
      return unary(i, inc);
    case M.Dec:
      return unary(i, dec);
    case M.Neg:
      return unary(i, neg);
    case M.Not:
      return unary(i, (c, w, a, ah) => {
        c.th = ~ah >>> 0;
        return w === 8 ? ~a >>> 0 : trunc(~a, w);
      });
    case M.Shl:
    case M.Sal:
      return shiftOp(i, SHL);
    case M.Shr:
      return shiftOp(i, SHR);
    case M.Sar:
      return shiftOp(i, SAR);
    case M.Rol:
      return shiftOp(i, ROL);
    case M.Ror:
      return shiftOp(i, ROR);
    case M.Rcl:
      return shiftOp(i, RCL);
    case M.Rcr:
      return shiftOp(i, RCR);
    case M.Shld:
      return shiftDoubleOp(i, true);
    case M.Shrd:
      return shiftDoubleOp(i, false);
    case M.Mul:
    case M.Imul:
    case M.Div:
    case M.Idiv:
      return mulDiv(i);
    case M.Bt:
    case M.Bts:
    case M.Btr:
    case M.Btc:
      return bitTest(i);
    case M.Bsf:
    case M.Bsr:
    case M.Tzcnt:
    case M.Lzcnt:
    case M.Popcnt:
      return bitScan(i);
    case M.Bswap:
      return bswap(i);
    case M.Xchg:
      return xchg(i);
    case M.Cmpxchg:
      return cmpxchg(i);
    case M.Cmpxchg16b:
    case M.Cmpxchg8b:
      return cmpxchg16b(i);
    case M.Xadd:
      return xadd(i);
    case M.Push:
      return pushOp(i);
    case M.Pop:
      return popOp(i);
    case M.Call:
      return callOp(i);
    case M.Ret:
      return retOp(i);
    case M.Jmp:
      return jmpOp(i);
    case M.Jrcxz:
    case M.Jecxz:
    case M.Loop:
    case M.Loope:
    case M.Loopne:
      return loopOp(i);
  }
  if (i.flow === 3 /* ConditionalBranch */ && i.cc !== 0 && !Number.isNaN(i.target)) {
    const t = i.target;
    const cond = COND[i.cc]!;
    return (c) => {
      if (cond(c)) c.rip = t;
    };
  }
  if (i.cc !== 0 && (m >= M.Cmova && m <= M.Cmovs)) {
    const [d, s] = i.ops;
    const w = d!.w;
    const rs = reader(s!, w), wd = writer(d!, w);
    if (!rs || !wd) return unimplemented(i, false);
    const cond = COND[i.cc]!;
    const r = d!.reg;
    return withEa(i, (c) => {
      const v = rs(c);
      if (cond(c)) wd(c, v, c.th);
      else if (w === 4) c.hi[r] = 0; // cmov r32 always zero-extends
    });
  }
  if (i.cc !== 0 && (m >= M.Seta && m <= M.Sets)) {
    const wd = writer(i.ops[0]!, 1);
    if (!wd) return unimplemented(i, false);
    const cond = COND[i.cc]!;
    return withEa(i, (c) => wd(c, cond(c) ? 1 : 0, 0));
  }
  const sk = stringKind(m);
  if (sk !== null && i.ops.some((o) => o.kind === OPK_STRING)) return stringOp(i, sk[0], sk[1]);
  const sys = system(i);
  if (sys !== null) return sys;
  const x = xmmOp(i);
  if (x !== null) return x;
  if (BY_DESIGN.has(m)) return unimplemented(i, true);
  // x87 and 3DNow!/MMX state (Xen saves and restores it, never computes with it), far jumps.
  if (/^F[a-z0-9]+$/.test(mnemonicName(m)) || m === M.Emms) return unimplemented(i, true);

  if (i.ops.some((o) => o.kind === OPK_REG && o.rc !== RC_GPR && o.rc !== RC_XMM)) {
    return unimplemented(i, true); // x87, MMX, AVX, mask registers
  }
  return unimplemented(i, false);
}

setHandlerBuilder((i) => {
  i.exec = build(i);
});

/** Whether a record's mnemonic has semantics here (used by coverage). */
export function isImplemented(i: Insn): boolean {
  return i.impl === IMPL_YES;
}

export { condition, OPK_IMM, OPK_MEM, RCL, RCR, ROL, ROR };
