/**
 * Decoding with iced-x86 into compact, plain JS records cached per address.
 *
 * One short-lived `Decoder` and one `Instruction` are used per decoded run (a basic block, up to
 * the next branch) and freed in `finally`: no wasm object outlives a call (emulation.md §1,
 * "Memory management"). Records keep only numbers; 64-bit values are split or converted to
 * canonical numbers once, here. Records are stored in the decode cache of the page holding their
 * first byte (`Page.code`), and are dropped by any write overlapping them.
 *
 * @module
 */

import {
  Code,
  Decoder,
  DecoderError,
  FlowControl,
  Instruction,
  MemorySizeExt,
  Mnemonic,
  OpKind,
  Register,
} from "iced-x86";
import { CpuFault } from "./faults.ts";
import { fromLinear, hex } from "./address.ts";
import { type Memory, PAGE_SIZE, PERM_X } from "./memory.ts";
import type { Cpu } from "./cpu.ts";

/** Executes one decoded instruction on a CPU (rip already points past it). */
export type Handler = (c: Cpu, i: Insn) => void;

/** Operand kinds of a record. */
export const OPK_REG = 0;
/** Explicit memory operand (see `Insn.mem`). */
export const OPK_MEM = 1;
/** Immediate. */
export const OPK_IMM = 2;
/** Near branch target. */
export const OPK_BRANCH = 3;
/** Implicit string memory operand ([rsi]/[rdi]). */
export const OPK_STRING = 4;
/** Anything else (far branches ...). */
export const OPK_OTHER = 5;

/** Register classes of a register operand. */
export const RC_GPR = 0;
/** XMM register. */
export const RC_XMM = 1;
/** Segment register. */
export const RC_SEG = 2;
/** Control register. */
export const RC_CR = 3;
/** Debug register. */
export const RC_DR = 4;
/** Other register (YMM, x87, mask...). */
export const RC_OTHER = 5;

/** One operand of a decoded instruction. */
export interface Operand {
  /** `OPK_*`. */
  kind: number;
  /** Width in bytes (register size, memory size or immediate size). */
  w: number;
  /** Register class (`RC_*`) for register operands. */
  rc: number;
  /** Register number within its class (GPR 0-15, XMM n, CR n, ...). */
  reg: number;
  /** True for AH, CH, DH, BH. */
  high: boolean;
  /** Immediate, low 32 bits (sign-extended to 64 bits before splitting). */
  immLo: number;
  /** Immediate, high 32 bits. */
  immHi: number;
}

/** An explicit memory operand. */
export interface MemOperand {
  /** Base GPR (0-15) or -1. */
  base: number;
  /** Index GPR (0-15) or -1. */
  index: number;
  /** Scale 1, 2, 4, 8. */
  scale: number;
  /** Displacement (sign-extended to 64 bits), low half. */
  dispLo: number;
  /** Displacement, high half. */
  dispHi: number;
  /** RIP-relative (then `dispLo/dispHi` hold the absolute target). */
  ripRel: boolean;
  /** Segment override with a base: 0 none, 4 FS, 5 GS. */
  seg: number;
  /** 32-bit address size (0x67 prefix). */
  addr32: boolean;
  /** Access size in bytes (0 when not meaningful, e.g. lea). */
  size: number;
}

/** A decoded instruction record (plain JS; no wasm object). */
export interface Insn {
  /** Address (canonical signed number, see `address.ts`). */
  ip: number;
  /** Length in bytes. */
  len: number;
  /** Address of the next instruction. */
  next: number;
  /** iced-x86 `Code`. */
  code: number;
  /** iced-x86 `Mnemonic`. */
  mnemonic: number;
  /** iced-x86 `FlowControl`. */
  flow: number;
  /** iced-x86 `ConditionCode` (0 none). */
  cc: number;
  /** The instruction bytes. */
  bytes: Uint8Array;
  /** Operands. */
  ops: Operand[];
  /** The explicit memory operand, if any. */
  mem: MemOperand | null;
  /** Near branch target (canonical number) or NaN. */
  target: number;
  /** Prefixes. */
  lock: boolean;
  /** F3 (rep/repe) prefix. */
  rep: boolean;
  /** F2 (repne) prefix. */
  repne: boolean;
  /** Segment prefix of the instruction (`RC_SEG` numbering: 0 ES..5 GS), -1 if none. */
  segPrefix: number;
  /** iced `isPrivileged`. */
  privileged: boolean;
  /** Implementation status: 0 implemented, 1 not implemented, 2 faults by design. */
  impl: number;
  /** Semantic handler. */
  exec: Handler;
  /** Host-installed record that writes must not drop. */
  pinned: boolean;
  /**
   * Status flags read (iced `RflagsBits`: OF 1, SF 2, ZF 4, AF 8, CF 16, PF 32, DF 64); flags
   * an instruction may leave unchanged (shift counts that can be 0) count as read too.
   */
  fr?: number;
  /** Status flags written (modified, set, cleared or left undefined), iced `RflagsBits`. */
  fw?: number;
  /** Compiled block starting here (`jit.ts`), if any. */
  blk?: unknown;
  /** Times this record started a block-sized run in the interpreter (compile heuristic). */
  heat?: number;
  /** A block may start after this instruction (see `jit.ts` `blockBoundary`), once known. */
  brk?: boolean;
}

/** Mnemonics with no architectural effect here (nops, fences, prefetches, cache hints). */
export const NOP_MNEMONICS: ReadonlySet<number> = new Set<number>([
  Mnemonic.Nop,
  Mnemonic.Endbr64,
  Mnemonic.Endbr32,
  Mnemonic.Lfence,
  Mnemonic.Mfence,
  Mnemonic.Sfence,
  Mnemonic.Prefetchnta,
  Mnemonic.Prefetcht0,
  Mnemonic.Prefetcht1,
  Mnemonic.Prefetcht2,
  Mnemonic.Prefetchw,
  Mnemonic.Clflush,
  Mnemonic.Clflushopt,
  Mnemonic.Clwb,
]);

/** The six arithmetic status flags as iced `RflagsBits` (OF SF ZF AF CF PF). */
export const RF_STATUS = 0x3f;

const SHIFTS = new Set<number>([
  Mnemonic.Shl,
  Mnemonic.Sal,
  Mnemonic.Shr,
  Mnemonic.Sar,
  Mnemonic.Rol,
  Mnemonic.Ror,
  Mnemonic.Rcl,
  Mnemonic.Rcr,
  Mnemonic.Shld,
  Mnemonic.Shrd,
]);

/** `Insn.impl` values. */
export const IMPL_YES = 0;
/** Not implemented: executing raises `UD`. */
export const IMPL_NO = 1;
/** Deliberately not modelled (VMX/SVM, x87 ...): executing raises `UD`. */
export const IMPL_BY_DESIGN = 2;

/** Builds the handler of a record; installed by `interp.ts` (avoids an import cycle). */
let buildHandler: (i: Insn) => void = () => {
  throw new Error("Interpreter not loaded");
};

/** Install the handler builder (called once by `interp.ts`). */
export function setHandlerBuilder(fn: (i: Insn) => void): void {
  buildHandler = fn;
}

function splitBig(v: bigint): [number, number] {
  const u = BigInt.asUintN(64, v);
  return [Number(u & 0xffffffffn), Number(u >> 32n)];
}

function canon(v: bigint): number {
  return Number(BigInt.asIntN(64, v));
}

function regOperand(r: number): Operand {
  const o: Operand = { kind: OPK_REG, w: 0, rc: RC_OTHER, reg: r, high: false, immLo: 0, immHi: 0 };
  if (r >= Register.AL && r <= Register.R15L) {
    const k = r - Register.AL;
    o.rc = RC_GPR;
    o.w = 1;
    if (k >= 4 && k < 8) {
      o.reg = k - 4;
      o.high = true;
    } else o.reg = k >= 8 ? k - 4 : k; // SPL..DIL follow BH; R8L.. follow DIL
  } else if (r >= Register.AX && r <= Register.R15) {
    const k = r - Register.AX;
    o.rc = RC_GPR;
    o.w = k < 16 ? 2 : k < 32 ? 4 : 8;
    o.reg = k & 15;
  } else if (r >= Register.ES && r <= Register.GS) {
    o.rc = RC_SEG;
    o.reg = r - Register.ES;
    o.w = 2;
  } else if (r >= Register.XMM0 && r <= Register.XMM0 + 15) {
    o.rc = RC_XMM;
    o.reg = r - Register.XMM0;
    o.w = 16;
  } else if (r >= Register.CR0 && r <= Register.CR0 + 15) {
    o.rc = RC_CR;
    o.reg = r - Register.CR0;
    o.w = 8;
  } else if (r >= Register.DR0 && r <= Register.DR0 + 15) {
    o.rc = RC_DR;
    o.reg = r - Register.DR0;
    o.w = 8;
  }
  return o;
}

function gprIndex(r: number): { idx: number; w: number } {
  if (r === Register.None) return { idx: -1, w: 8 };
  if (r === Register.RIP || r === Register.EIP) return { idx: -1, w: r === Register.EIP ? 4 : 8 };
  const o = regOperand(r);
  return { idx: o.rc === RC_GPR ? o.reg : -2, w: o.w };
}

/**
 * Build a record from a decoded iced `Instruction` (which the caller owns and frees).
 *
 * @param ins The decoded instruction.
 * @param bytes Its bytes.
 * @param ip Its address as a canonical number.
 * @returns The record with `exec` set.
 */
export function recordFromIced(ins: Instruction, bytes: Uint8Array, ip: number): Insn {
  const len = ins.length;
  const rec: Insn = {
    ip,
    len,
    next: ip + len,
    code: ins.code,
    mnemonic: ins.mnemonic,
    flow: ins.flowControl,
    cc: ins.conditionCode,
    bytes,
    ops: [],
    mem: null,
    target: NaN,
    lock: ins.hasLockPrefix,
    rep: ins.hasRepePrefix,
    repne: ins.hasRepnePrefix,
    segPrefix: ins.segmentPrefix === Register.None ? -1 : ins.segmentPrefix - Register.ES,
    privileged: ins.isPrivileged,
    impl: IMPL_YES,
    exec: notBuilt,
    pinned: false,
    fr: 0,
    fw: 0,
    blk: undefined,
    heat: 0,
    brk: undefined,
  };
  if (ins.isInvalid) {
    rec.impl = IMPL_NO;
    buildHandler(rec);
    return rec;
  }
  const n = ins.opCount;
  for (let k = 0; k < n; k++) {
    const kind = ins.opKind(k);
    let o: Operand;
    switch (kind) {
      case OpKind.Register:
        o = regOperand(ins.opRegister(k));
        break;
      case OpKind.Memory: {
        const base = gprIndex(ins.memoryBase);
        const index = gprIndex(ins.memoryIndex);
        const ripRel = ins.isIpRelMemoryOperand;
        const [dispLo, dispHi] = splitBig(ins.memoryDisplacement);
        const size = MemorySizeExt.size(ins.memorySize);
        const segReg = ins.memorySegment;
        rec.mem = {
          base: base.idx,
          index: index.idx,
          scale: ins.memoryIndexScale,
          dispLo,
          dispHi,
          ripRel,
          seg: segReg === Register.FS ? 4 : segReg === Register.GS ? 5 : 0,
          addr32: base.w === 4 || index.w === 4,
          size,
        };
        if (base.idx === -2 || index.idx === -2) rec.impl = IMPL_NO; // e.g. VSIB
        o = { kind: OPK_MEM, w: size, rc: RC_OTHER, reg: -1, high: false, immLo: 0, immHi: 0 };
        break;
      }
      case OpKind.Immediate8:
      case OpKind.Immediate8_2nd:
      case OpKind.Immediate16:
      case OpKind.Immediate32:
      case OpKind.Immediate64:
      case OpKind.Immediate8to16:
      case OpKind.Immediate8to32:
      case OpKind.Immediate8to64:
      case OpKind.Immediate32to64: {
        const [lo, hi] = splitBig(ins.immediate(k));
        const w = kind === OpKind.Immediate8 || kind === OpKind.Immediate8_2nd
          ? 1
          : kind === OpKind.Immediate16
          ? 2
          : kind === OpKind.Immediate32
          ? 4
          : 8;
        o = { kind: OPK_IMM, w, rc: RC_OTHER, reg: -1, high: false, immLo: lo, immHi: hi };
        break;
      }
      case OpKind.NearBranch64:
      case OpKind.NearBranch32:
      case OpKind.NearBranch16:
        rec.target = canon(ins.nearBranchTarget);
        o = { kind: OPK_BRANCH, w: 8, rc: RC_OTHER, reg: -1, high: false, immLo: 0, immHi: 0 };
        break;
      case OpKind.MemorySegRSI:
      case OpKind.MemorySegESI:
      case OpKind.MemorySegSI:
      case OpKind.MemoryESRDI:
      case OpKind.MemoryESEDI:
      case OpKind.MemoryESDI:
      case OpKind.MemorySegRDI:
      case OpKind.MemorySegEDI:
      case OpKind.MemorySegDI: {
        const size = MemorySizeExt.size(ins.memorySize);
        o = { kind: OPK_STRING, w: size, rc: RC_OTHER, reg: kind, high: false, immLo: 0, immHi: 0 };
        if (kind !== OpKind.MemorySegRSI && kind !== OpKind.MemoryESRDI) rec.impl = IMPL_NO;
        break;
      }
      default:
        o = { kind: OPK_OTHER, w: 0, rc: RC_OTHER, reg: -1, high: false, immLo: 0, immHi: 0 };
    }
    rec.ops.push(o);
  }
  rec.fr = ins.rflagsRead & 0x7f;
  rec.fw = ins.rflagsModified & 0x7f;
  if (SHIFTS.has(rec.mnemonic)) {
    // A masked count of 0 leaves the flags as they were: the old values flow through.
    const c = rec.ops[rec.ops.length - 1]!;
    const mask = rec.ops[0]!.w === 8 ? 63 : 31;
    if (rec.ops.length >= 2 && (c.kind !== OPK_IMM || (c.immLo & mask) === 0)) rec.fr |= rec.fw;
  }
  buildHandler(rec);
  return rec;
}

function notBuilt(_c: Cpu, i: Insn): void {
  throw new CpuFault("UD", `Instruction at ${hex(i.ip)} has no handler`, { rip: fromLinear(i.ip) });
}

const WINDOW = 256;

/**
 * Decode the basic block starting at canonical address `a` into the page decode caches and return
 * the record at `a`. Fetch checks: the bytes must be on mapped executable pages.
 *
 * @param mem Guest memory.
 * @param a Canonical address.
 * @param options iced `DecoderOptions` (e.g. `DecoderOptions.AMD`).
 * @returns The record for `a`.
 *
 * @example
 * ```ts
 * import { decodeAt, Memory, PERM_RX, toLinear } from "@lpkit/x86-emu";
 * import assert from "node:assert/strict";
 * const m = new Memory();
 * m.map(0x1000n, 4096, PERM_RX);
 * m.write(0x1000n, new Uint8Array([0x31, 0xc0, 0xc3])); // xor eax, eax; ret
 * const first = decodeAt(m, toLinear(0x1000n), 0);
 * assert.equal(first.len, 2);
 * assert.equal(decodeAt(m, toLinear(0x1002n), 0).len, 1); // decoded with the block, cached
 * ```
 */
export function decodeAt(mem: Memory, a: number, options: number): Insn {
  const p = mem.page(a);
  if (p === undefined || (p.perm & PERM_X) === 0) mem.fault(a, "execute");
  const off = a - p.number * PAGE_SIZE;
  const firstAvail = PAGE_SIZE - off;
  let avail = Math.min(firstAvail, WINDOW);
  let next: typeof p | undefined;
  if (avail < 16) {
    next = mem.page(a + firstAvail);
    if (next !== undefined && (next.perm & PERM_X) !== 0) avail = firstAvail + 16;
    else next = undefined;
  }
  const buf = new Uint8Array(avail);
  buf.set(p.data.subarray(off, Math.min(off + avail, PAGE_SIZE)));
  if (next !== undefined) buf.set(next.data.subarray(0, avail - firstAvail), firstAvail);

  const decoder = new Decoder(64, buf, options);
  const ins = new Instruction();
  let first: Insn | undefined;
  try {
    decoder.ip = BigInt.asUintN(64, BigInt(a));
    let pos = 0;
    while (pos < avail) {
      decoder.decodeOut(ins);
      if (ins.isInvalid && decoder.lastError === DecoderError.NoMoreBytes) {
        if (first === undefined) {
          // The instruction runs into an unmapped or non-executable page.
          mem.fault(a + avail, "execute");
        }
        break;
      }
      const len = ins.isInvalid ? 1 : ins.length;
      const ip = a + pos;
      const rec = recordFromIced(ins, buf.slice(pos, pos + len), ip);
      const rp = mem.page(ip)!;
      const roff = ip - rp.number * PAGE_SIZE;
      (rp.code ??= new Array(PAGE_SIZE))[roff] = rec;
      mem.noteCode(rp);
      if (roff + len > PAGE_SIZE) {
        // Make writes to the next page check for this straddling record.
        const np = mem.page(ip + len - 1)!;
        np.code ??= new Array(PAGE_SIZE);
        mem.noteCode(np);
      }
      first ??= rec;
      pos += len;
      if (rec.flow !== FlowControl.Next || rec.impl !== IMPL_YES) break;
      if (ip + len - p.number * PAGE_SIZE >= PAGE_SIZE) break;
      const cached = rp.code[roff + len];
      if (cached !== undefined) break;
    }
  } finally {
    ins.free();
    decoder.free();
  }
  return first!;
}

/**
 * Decode one instruction from bytes (no memory, no cache), e.g. for tools and tests.
 *
 * @param bytes Instruction bytes (at least one full instruction).
 * @param address Address of the first byte (unsigned 64-bit).
 * @param options iced `DecoderOptions`.
 * @returns The record (with its handler attached).
 *
 * @example
 * ```ts
 * import { decodeBytes } from "@lpkit/x86-emu";
 * import assert from "node:assert/strict";
 * const r = decodeBytes(new Uint8Array([0xe9, 0xfb, 0xff, 0x0f, 0x00]), 0xffff82d040200000n);
 * assert.equal(r.len, 5);
 * assert.equal(BigInt.asUintN(64, BigInt(r.target)), 0xffff82d040300000n);
 * ```
 */
export function decodeBytes(bytes: Uint8Array, address: bigint, options = 0): Insn {
  const decoder = new Decoder(64, bytes, options);
  const ins = new Instruction();
  try {
    decoder.ip = BigInt.asUintN(64, address);
    decoder.decodeOut(ins);
    const len = ins.isInvalid ? 1 : ins.length;
    return recordFromIced(ins, bytes.slice(0, len), canon(address));
  } finally {
    ins.free();
    decoder.free();
  }
}

/**
 * The iced-x86 `Mnemonic` name of a mnemonic number, for diagnostics.
 *
 * @example
 * ```ts
 * import { decodeBytes, mnemonicName } from "@lpkit/x86-emu";
 * import assert from "node:assert/strict";
 * const ret = decodeBytes(new Uint8Array([0xc3]), 0x1000n);
 * assert.equal(mnemonicName(ret.mnemonic), "Ret");
 * ```
 */
export function mnemonicName(m: number): string {
  return Mnemonic[m] ?? `mnemonic#${m}`;
}

/**
 * The iced-x86 `Code` name of an instruction form, for diagnostics and coverage reports.
 *
 * @example
 * ```ts
 * import { codeName, decodeBytes } from "@lpkit/x86-emu";
 * import assert from "node:assert/strict";
 * const endbr = decodeBytes(new Uint8Array([0xf3, 0x0f, 0x1e, 0xfa]), 0x1000n);
 * assert.equal(codeName(endbr.code), "Endbr64");
 * ```
 */
export function codeName(c: number): string {
  return Code[c] ?? `code#${c}`;
}
