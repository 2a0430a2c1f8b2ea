/**
 * The block compiler: hot straight-line traces of decoded records become JavaScript functions
 * (`new Function` source per block, emulation.md §3 "B3"), so V8 compiles guest code to machine
 * code.
 *
 * A trace starts at a hot address and follows fall-through, direct `jmp` and direct `call`
 * (Xen's `jmp __x86_return_thunk` and retpolines included); a conditional branch becomes a side
 * exit, or a loop when it jumps back to the trace start. The trace ends before anything the
 * compiler leaves to the interpreter (serializing and I/O instructions, `rep` string ops,
 * host-pinned records, unimplemented ones), so every instruction still has exactly the
 * interpreter's semantics:
 *
 * - Registers stay in `Cpu.lo`/`Cpu.hi`; an instruction writes its registers only after its
 *   last memory access, so at a fault the state is the one before the faulting instruction,
 *   which the catch handler reports like the interpreter does (`rip` at the instruction).
 * - Flags are lazy: an add/sub/cmp/logic/inc/dec keeps its operands in locals, and a following
 *   `jcc`/`setcc`/`cmovcc` tests them directly (`cmp rax, rbx; jb` is `ah < bh || ...`). At an
 *   exit the producer is stored as a descriptor (`Cpu.lop`, see `materializeFlags`), which the
 *   CPU loop turns into exact flags before the interpreter or the host sees them.
 * - Any other implemented instruction without control effects runs its interpreter handler
 *   in place, with the flags materialized first.
 * - A store that invalidates the running block (self-modifying code) ends it right after the
 *   store. Blocks are registered on their pages; writes to them invalidate the block.
 *
 * @module
 */

import { Mnemonic as M } from "iced-x86";
import { CpuFault } from "./faults.ts";
import { fromLinear, hex, linearFromHalves } from "./address.ts";
import {
  type CodeBlock,
  type FastAccess,
  fastAccess,
  type Memory,
  PAGE_SIZE,
  PERM_X,
} from "./memory.ts";
import {
  decodeAt,
  IMPL_YES,
  type Insn,
  type MemOperand,
  NOP_MNEMONICS,
  type Operand,
  OPK_IMM,
  OPK_MEM,
  OPK_REG,
  OPK_STRING,
  RC_GPR,
  RF_STATUS,
} from "./decoder.ts";
import {
  LAZY_ADD,
  LAZY_DEC,
  LAZY_INC,
  LAZY_LOGIC,
  LAZY_RES,
  LAZY_SUB,
  materializeFlags,
  mul64,
  PRODUCT,
} from "./alu.ts";
import { PARITY } from "./flags.ts";
import type { Cpu } from "./cpu.ts";

/** Options of the block compiler. */
export interface JitOptions {
  /** Executions of an address in the interpreter before a block is compiled there (default 8). */
  threshold?: number;
  /** Longest trace in instructions (default 96). */
  maxInstructions?: number;
  /** Keep each block's generated source in `Block.source` (diagnostics; default false). */
  keepSource?: boolean;
}

/**
 * A compiled block: a trace of hot guest code turned into one JavaScript function.
 *
 * @example
 * ```ts
 * import { Machine, PERM_RX } from "@lpkit/x86-emu";
 * import assert from "node:assert/strict";
 * const m = new Machine({ cpus: 1, jit: { threshold: 1, keepSource: true } });
 * // f(n): loop n times (dec edi; jnz), return 7
 * const code = [0xb8, 7, 0, 0, 0, 0xff, 0xcf, 0x75, 0xfc, 0xc3];
 * m.map({ address: 0x1000n, data: new Uint8Array(code), size: code.length, perms: PERM_RX });
 * assert.equal(m.call(0, 0x1000n, [1000n]), 7n);
 * const jit = m.cpus[0].jit!;
 * assert.ok(jit.compiled > 0);
 * assert.ok(jit.cache.some((b) => b.source.length > 0), "a block with its generated source");
 * ```
 */
export class Block implements CodeBlock {
  /** Cleared when a write overlaps the block. */
  valid = true;
  /** Canonical address of the first instruction. */
  readonly start: number;
  /** Most instructions one call retires without looping (the CPU loop checks its budget). */
  readonly max: number;
  /** Covered bytes, flattened [start, end) pairs. */
  readonly ranges: number[];
  /**
   * The compiled function: runs the block (and, through `x`, up to `CHAIN_DEPTH` successors),
   * returns instructions retired.
   */
  fn: (c: Cpu, budget: number, depth: number) => number;
  /**
   * Successor of each exit, linked by the CPU loop: a block calls its successor directly from
   * that exit's own call site, which V8 predicts (one shared dispatch call site into hundreds
   * of generated functions costs ~30 ns a call).
   */
  x: (Block | null)[] = [];
  /** The record the block hangs off. */
  readonly head: Insn | null;
  /** Generated source, when `keepSource` is set (else empty). */
  readonly source: string;

  /** @internal */
  constructor(head: Insn | null, start: number, max: number, ranges: number[], source: string) {
    this.head = head;
    this.start = start;
    this.max = max;
    this.ranges = ranges;
    this.source = source;
    this.fn = () => 0;
  }

  /** Mark invalid and unlink from the decode cache. */
  invalidate(): void {
    this.valid = false;
    if (this.head !== null && this.head.blk === this) this.head.blk = undefined;
  }
}

/** Marks a record where no block can start (its instruction is left to the interpreter). */
export const NO_BLOCK: Block = new Block(null, NaN, Infinity, [], "");

/** Mnemonics compiled blocks never contain: the interpreter runs them between blocks. */
const BARRIER = new Set<number>([
  M.Cpuid,
  M.Rdtsc,
  M.Rdtscp,
  M.Rdmsr,
  M.Wrmsr,
  M.Hlt,
  M.Pause,
  M.In,
  M.Out,
  M.Int3,
  M.Ud2,
  M.Iretq,
  M.Lgdt,
  M.Lidt,
  M.Ltr,
  M.Lldt,
  M.Invlpg,
  M.Wbinvd,
  M.Wbnoinvd,
  M.Invd,
  M.Serialize,
  M.Xsetbv,
  M.Clts,
  M.Jrcxz,
  M.Jecxz,
  M.Loop,
  M.Loope,
  M.Loopne,
  M.Enter,
]);

const CACHE_SIZE = 4096;
/** Successors a block calls before returning to the CPU loop (bounds the JS stack). */
const CHAIN_DEPTH = 24;

/**
 * Per-CPU state of the block compiler: counts executions, compiles records that turn hot,
 * and caches the blocks by address.
 *
 * @example
 * ```ts
 * import { Machine, PERM_RX } from "@lpkit/x86-emu";
 * import assert from "node:assert/strict";
 * const m = new Machine({ cpus: 1, jit: { threshold: 4 } });
 * const code = [0xff, 0xcf, 0x75, 0xfc, 0x89, 0xf8, 0xc3]; // dec edi; jnz .; mov eax, edi; ret
 * m.map({ address: 0x1000n, data: new Uint8Array(code), size: code.length, perms: PERM_RX });
 * assert.equal(m.call(0, 0x1000n, [100n]), 0n);
 * assert.equal(m.cpus[0].jit!.threshold, 4);
 * assert.ok(m.cpus[0].jit!.compiled >= 1, "the loop was compiled");
 * ```
 */
export class Jit {
  /** Interpreter executions before compiling. */
  readonly threshold: number;
  /** Longest trace. */
  readonly maxInstructions: number;
  /** Keep generated sources. */
  readonly keepSource: boolean;
  /** Blocks compiled so far. */
  compiled = 0;
  /** Direct-mapped cache of blocks by address (see {@linkcode Jit.slot}); NO_BLOCK when empty. */
  readonly cache: Block[] = new Array(CACHE_SIZE).fill(NO_BLOCK);
  readonly #helpers: Helpers;

  /**
   * The compiler state of one CPU.
   *
   * @param mem Guest memory (its fast accessors are shared by all blocks).
   * @param options Threshold and trace length.
   */
  constructor(mem: Memory, options: JitOptions = {}) {
    this.threshold = options.threshold ?? 8;
    this.maxInstructions = options.maxInstructions ?? 96;
    this.keepSource = options.keepSource ?? false;
    this.#helpers = helpersFor(mem);
  }

  /**
   * The block to run at canonical `a`, compiling one when the record there is hot; null when
   * the interpreter must run the next instruction.
   */
  lookup(c: Cpu, a: number): Block | null {
    const p = c.mem.page(a);
    if (p === undefined || p.code === null) return null;
    const rec = p.code[a - p.number * PAGE_SIZE];
    if (rec === undefined || rec.pinned) return null;
    return this.blockFor(c, rec);
  }

  /**
   * The block starting at record `rec` (not a pinned one), compiling it once the record has been
   * reached `threshold` times; NO_BLOCK when no block can start there, null while still cold.
   */
  blockFor(c: Cpu, rec: Insn): Block | null {
    let b = rec.blk as Block | undefined;
    if (b === undefined) {
      const heat = (rec.heat ?? 0) + 1;
      rec.heat = heat;
      if (heat < this.threshold) return null;
      b = compileTrace(c, rec, this.#helpers, this.maxInstructions, this.keepSource);
      rec.blk = b;
      if (b !== NO_BLOCK) this.compiled++;
    }
    if (b !== NO_BLOCK) this.cache[Jit.slot(rec.ip)] = b;
    return b;
  }

  /** Cache slot of canonical address `a`. */
  static slot(a: number): number {
    const l = a >>> 0;
    return (l ^ (l >>> 12)) & (CACHE_SIZE - 1);
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers shared by generated code

interface Helpers extends FastAccess {
  mem: Memory;
  S: { hi: number };
  RT: Memory["rtlb"];
  WT: Memory["wtlb"];
  lin: (lo: number, hi: number) => number;
  mat: (c: Cpu) => void;
  PAR: Uint8Array;
  gpf: (msg: string) => CpuFault;
  segAdd: (base: number, off: number) => number;
  mul64: typeof mul64;
  P: Uint32Array;
}

const helperCache = new WeakMap<Memory, Helpers>();

function helpersFor(mem: Memory): Helpers {
  const cached = helperCache.get(mem);
  if (cached !== undefined) return cached;
  const fa = fastAccess(mem);
  const lin = linearFromHalves;
  const h: Helpers = {
    ...fa,
    S: fa.s,
    RT: mem.rtlb,
    WT: mem.wtlb,
    mem,
    lin,
    mat: materializeFlags,
    PAR: PARITY,
    gpf: (msg) => new CpuFault("GP", msg),
    mul64,
    P: PRODUCT,
    segAdd(base, off) {
      const a = base + off;
      return a >= -0x800000000000 && a < 0x800000000000 ? a : NaN;
    },
  };
  helperCache.set(mem, h);
  return h;
}

// ---------------------------------------------------------------------------------------------
// Trace selection

interface TraceStep {
  rec: Insn;
  /**
   * The trace goes on after this step: for a direct jmp/call, at its target; for a `ret`
   * (matching a call earlier in the trace), at the predicted return address `predict`.
   */
  follow: boolean;
  /** Predicted return address of a followed `ret`. */
  predict: number;
  /** For a followed `ret`: the step index of the call it returns from (else -1). */
  pair: number;
}

function recordAt(c: Cpu, a: number): Insn | undefined {
  const p = c.mem.page(a);
  if (p === undefined || (p.perm & PERM_X) === 0) return undefined;
  const r = p.code?.[a - p.number * PAGE_SIZE];
  if (r !== undefined) return r;
  try {
    return decodeAt(c.mem, a, c.model.decoderOptions);
  } catch (e) {
    if (e instanceof CpuFault) return undefined;
    throw e;
  }
}

function gprOnly(i: Insn): boolean {
  for (const o of i.ops) {
    if (o.kind === OPK_REG && o.rc !== RC_GPR) return false;
    if (o.kind === OPK_STRING) return false;
  }
  return i.mem === null || !i.mem.addr32;
}

/** Whether a record may appear in a block (natively compiled or through its handler). */
function compilable(i: Insn): boolean {
  if (i.pinned || i.impl !== IMPL_YES || i.code === 0) return false;
  if (BARRIER.has(i.mnemonic)) return false;
  if (i.rep || i.repne) {
    // rep-prefixed string instructions loop and may stop half-way; F3 on other opcodes is part
    // of the opcode (pause, endbr64, tzcnt...) or ignored.
    if (i.ops.some((o) => o.kind === OPK_STRING)) return false;
  }
  if (i.ops.some((o) => o.kind === OPK_STRING)) return false;
  if (i.mnemonic === M.Mov && !gprOnly(i)) {
    // mov to/from control/debug registers serializes or is rare; segment moves are harmless.
    return !i.ops.some((o) => o.kind === OPK_REG && (o.rc === 3 || o.rc === 4));
  }
  switch (i.flow) {
    case 0: // Next
      return true;
    case 1: // UnconditionalBranch
    case 2: // IndirectBranch
    case 3: // ConditionalBranch
    case 5: // Call
    case 6: // IndirectCall
      return gprOnly(i) && (i.mnemonic === M.Jmp || i.mnemonic === M.Call || i.cc !== 0);
    case 4: // Return
      return i.mnemonic === M.Ret;
    default:
      return false;
  }
}

/**
 * Whether a block may start right after `i` executes in the interpreter: after control flow and
 * after anything blocks leave to the interpreter. Elsewhere the CPU loop does not look for blocks,
 * so cold straight-line code pays nothing for the compiler. Cached on the record (`brk`).
 */
export function blockBoundary(i: Insn): boolean {
  const b = i.flow !== 0 || !compilable(i);
  i.brk = b;
  return b;
}

function selectTrace(c: Cpu, head: Insn, max: number): TraceStep[] {
  const steps: TraceStep[] = [];
  const seen = new Set<number>();
  const shadow: { ret: number; idx: number }[] = []; // the calls the trace followed
  let rec: Insn | undefined = head;
  while (rec !== undefined && steps.length < max && compilable(rec) && !seen.has(rec.ip)) {
    seen.add(rec.ip);
    const step: TraceStep = { rec, follow: false, predict: NaN, pair: -1 };
    steps.push(step);
    const f = rec.flow;
    if (f === 0 || f === 3) {
      if (f === 3 && Number.isNaN(rec.target)) break;
      rec = recordAt(c, rec.next);
      continue;
    }
    if ((f === 1 || f === 5) && !Number.isNaN(rec.target)) {
      const t = rec.target;
      if (t === head.ip || seen.has(t)) break;
      const next = recordAt(c, t);
      if (next === undefined || !compilable(next)) break;
      step.follow = true;
      if (f === 5) shadow.push({ ret: rec.next, idx: steps.length - 1 });
      rec = next;
      continue;
    }
    if (f === 4 && shadow.length > 0) {
      // A return from a call inside the trace: go on at the call's return address, guarded.
      const { ret: t, idx } = shadow.pop()!;
      if (t === head.ip || seen.has(t)) break;
      const next = recordAt(c, t);
      if (next === undefined || !compilable(next)) break;
      step.follow = true;
      step.predict = t;
      step.pair = idx;
      rec = next;
      continue;
    }
    break; // indirect branch, unpredicted return
  }
  // The length limit may stop the trace right after a followed jmp/call: it exits there.
  const last = steps[steps.length - 1];
  if (last !== undefined) last.follow = false;
  return steps;
}

// ---------------------------------------------------------------------------------------------
// Code generation

/** Compile-time view of the flags. */
type FlagState =
  | { kind: "entry" } // as the CPU holds them (possibly a lazy descriptor from a previous block)
  | { kind: "eager" } // in c.cf..c.of, descriptor cleared
  | Producer;

interface Producer {
  kind: "lazy";
  /** LAZY_* kind. */
  op: number;
  w: number;
  /** Operand expressions (locals or literals). */
  a: string;
  ah: string;
  b: string;
  bh: string;
  /** Result locals (add/logic/inc/dec). */
  r: string;
  rh: string;
  /** Carry: ADD's computed carry, INC/DEC's preserved one (0/1 expression). */
  cf: string;
}

const SIGN_MIN = ["", "0x80", "0x8000", "", "0x80000000"];

function hexNum(n: number): string {
  return n < 0 ? `-0x${(-n).toString(16)}` : `0x${n.toString(16)}`;
}

function signExt(x: string, w: number): string {
  return w === 4 ? `(${x} | 0)` : w === 2 ? `((${x} << 16) >> 16)` : `((${x} << 24) >> 24)`;
}

function mask(w: number): string {
  return w === 1 ? "0xff" : w === 2 ? "0xffff" : "0xffffffff";
}

class Gen {
  readonly lines: string[] = [];
  readonly decls = new Set<string>();
  readonly fixups: string[] = []; // per instruction index: statements for the catch handler
  readonly ips: number[] = [];
  flags: FlagState = { kind: "entry" };
  tmp = 0;
  k = 0; // instruction index in the body
  prodId = 0;
  readonly head: number;
  readonly loop: boolean;
  readonly recs: Insn[] = [];
  /**
   * Calls whose `CallTracker.onCall` was left out because their `ret` is in the trace too: the
   * frames are pushed only where the block is left (exits, faults) with them still open.
   */
  open: { idx: number; push: string }[] = [];

  constructor(head: number, loop: boolean) {
    this.head = head;
    this.loop = loop;
  }

  t(): string {
    return `t${this.tmp++}`;
  }

  emit(s: string): void {
    this.lines.push(s);
  }

  /** Statements storing the current flag state into the CPU (descriptor or nothing). */
  storeFlags(): string {
    const f = this.flags;
    if (f.kind !== "lazy") return "";
    const op = (f.op << 4) | f.w;
    switch (f.op) {
      case LAZY_ADD:
      case LAZY_SUB:
        return f.w === 8
          ? `c.lop = ${op}; c.la = ${f.a}; c.lah = ${f.ah}; c.lb = ${f.b}; c.lbh = ${f.bh};`
          : `c.lop = ${op}; c.la = ${f.a}; c.lb = ${f.b};`;
      case LAZY_LOGIC:
        return f.w === 8
          ? `c.lop = ${op}; c.la = ${f.r}; c.lah = ${f.rh};`
          : `c.lop = ${op}; c.la = ${f.r};`;
      case LAZY_RES:
        return `c.lop = ${op}; c.la = ${f.r};${f.w === 8 ? ` c.lah = ${f.rh};` : ""}` +
          ` c.lcf = ${f.cf}; c.lb = ${f.b};`;
      default:
        return f.w === 8
          ? `c.lop = ${op}; c.la = ${f.a}; c.lah = ${f.ah}; c.lcf = ${f.cf};`
          : `c.lop = ${op}; c.la = ${f.a}; c.lcf = ${f.cf};`;
    }
  }

  /** Make c.cf..c.of exact (before a handler or an eager flag read). */
  flush(): void {
    const f = this.flags;
    if (f.kind === "lazy") this.emit(`${this.storeFlags()} mat(c);`);
    else if (f.kind === "entry") this.emit("if (c.lop !== 0) mat(c);");
    this.flags = { kind: "eager" };
  }

  /** Statements pushing the frames of the open elided calls, outermost first. */
  openPushes(): string {
    return this.open.map((o) => o.push).join(" ");
  }

  /** Push the open elided frames for real here (before a tracker operation of the guest's). */
  flushOpen(): void {
    if (this.open.length > 0) this.emit(this.openPushes());
    this.open = [];
  }

  /** Record the fault fix-up of the instruction about to be emitted. */
  begin(rec: Insn): void {
    this.ips.push(rec.ip);
    this.recs.push(rec);
    this.fixups.push(this.storeFlags() + this.openPushes());
    this.emit(`k = ${this.k};`);
  }

  /** Exits so far (each gets its own successor slot). */
  exits = 0;

  /** Exit statements: store flags, push open frames, set rip and the count, leave the body. */
  exit(rip: string, count: number, pushOpen = true): string {
    const n = this.loop ? `n + ${count}` : `${count}`;
    const frames = pushOpen ? this.openPushes() : "";
    return `{ ${this.storeFlags()} ${frames} c.rip = ${rip}; rc = ${n}; xi = ${this.exits++}; ` +
      `break out; }`;
  }

  /** Loop back edge (jump to the trace start); a plain exit while elided calls are open. */
  backEdge(count: number, max: number): string {
    if (this.open.length > 0) return this.exit(hexNum(this.head), count);
    return `{ ${this.storeFlags()} n += ${count}; if (n + ${max} <= budget) continue; ` +
      `c.rip = ${hexNum(this.head)}; rc = n; xi = ${this.exits++}; break out; }`;
  }

  newProducer(op: number, w: number): Producer {
    const id = this.prodId++;
    const p: Producer = {
      kind: "lazy",
      op,
      w,
      a: `p${id}a`,
      ah: `p${id}ah`,
      b: `p${id}b`,
      bh: `p${id}bh`,
      r: `p${id}r`,
      rh: `p${id}rh`,
      cf: `p${id}c`,
    };
    for (const v of [p.a, p.ah, p.b, p.bh, p.r, p.rh, p.cf]) this.decls.add(v);
    return p;
  }

  /** JS boolean expression for condition code `cc` (iced ConditionCode 1..16). */
  cond(cc: number): string {
    let f = this.flags;
    if (f.kind === "entry") {
      this.flush();
      f = this.flags;
    }
    const neg = (cc & 1) === 0; // o=1/no=2, b=3/ae=4, e=5/ne=6, ...
    const base = neg ? cc - 1 : cc;
    let e: string;
    if (f.kind === "eager") {
      switch (base) {
        case 1:
          e = "c.of !== 0";
          break;
        case 3:
          e = "c.cf !== 0";
          break;
        case 5:
          e = "c.zf !== 0";
          break;
        case 7:
          e = "(c.cf | c.zf) !== 0";
          break;
        case 9:
          e = "c.sf !== 0";
          break;
        case 11:
          e = "c.pf !== 0";
          break;
        case 13:
          e = "c.sf !== c.of";
          break;
        default:
          e = "(c.zf !== 0 || c.sf !== c.of)";
      }
    } else e = lazyCond(f as Producer, base);
    return neg ? `(!(${e}))` : `(${e})`;
  }
}

/** Condition `base` (odd: o b e be s p l le) of a lazy producer. */
function lazyCond(p: Producer, base: number): string {
  const w = p.w, sb = w * 8 - 1;
  const { a, ah, b, bh, r, rh } = p;
  if (p.op === LAZY_SUB) {
    const w8 = w === 8;
    const diff = `(${a} - ${b})`;
    const hiDiff = `(${ah} - ${bh} - (${a} < ${b} ? 1 : 0))`;
    switch (base) {
      case 5:
        return w8 ? `${a} === ${b} && ${ah} === ${bh}` : `${a} === ${b}`;
      case 3:
        return w8 ? `${ah} < ${bh} || (${ah} === ${bh} && ${a} < ${b})` : `${a} < ${b}`;
      case 7:
        return w8 ? `${ah} < ${bh} || (${ah} === ${bh} && ${a} <= ${b})` : `${a} <= ${b}`;
      case 13:
        return w8
          ? `(${ah} | 0) < (${bh} | 0) || (${ah} === ${bh} && ${a} < ${b})`
          : `${signExt(a, w)} < ${signExt(b, w)}`;
      case 15:
        return w8
          ? `(${ah} | 0) < (${bh} | 0) || (${ah} === ${bh} && ${a} <= ${b})`
          : `${signExt(a, w)} <= ${signExt(b, w)}`;
      case 9:
        return w8 ? `(${hiDiff} >>> 31) !== 0` : `((${diff} >>> ${sb}) & 1) !== 0`;
      case 11:
        return `PAR[${diff} & 0xff] !== 0`;
      default: // 1: overflow
        return w8
          ? `(((${ah} ^ ${bh}) & (${ah} ^ ${hiDiff})) >>> 31) !== 0`
          : `((((${a} ^ ${b}) & (${a} ^ ${diff})) >>> ${sb}) & 1) !== 0`;
    }
  }
  const zero = w === 8 ? `(${r} | ${rh}) === 0` : `${r} === 0`;
  const sign = w === 8 ? `(${rh} >>> 31) !== 0` : `((${r} >>> ${sb}) & 1) !== 0`;
  let carry: string, over: string;
  switch (p.op) {
    case LAZY_LOGIC:
      carry = "false";
      over = "false";
      break;
    case LAZY_RES:
      carry = `${p.cf} !== 0`;
      over = `${p.b} !== 0`;
      break;
    case LAZY_ADD:
      carry = `${p.cf} !== 0`;
      over = w === 8
        ? `(((${ah} ^ ${rh}) & (${bh} ^ ${rh})) >>> 31) !== 0`
        : `((((${a} ^ ${r}) & (${b} ^ ${r})) >>> ${sb}) & 1) !== 0`;
      break;
    case LAZY_INC:
      carry = `${p.cf} !== 0`;
      over = w === 8 ? `${rh} === 0x80000000 && ${r} === 0` : `${r} === ${SIGN_MIN[w]}`;
      break;
    default: // DEC
      carry = `${p.cf} !== 0`;
      over = w === 8 ? `${ah} === 0x80000000 && ${a} === 0` : `${a} === ${SIGN_MIN[w]}`;
  }
  switch (base) {
    case 5:
      return zero;
    case 3:
      return carry;
    case 7:
      return `${carry} || ${zero}`;
    case 9:
      return sign;
    case 11:
      return `PAR[${r} & 0xff] !== 0`;
    case 13:
      return p.op === LAZY_LOGIC ? sign : `(${sign}) !== (${over})`;
    case 15:
      return p.op === LAZY_LOGIC ? `${zero} || ${sign}` : `${zero} || (${sign}) !== (${over})`;
    default:
      return over;
  }
}

// Operand access ------------------------------------------------------------------------------

/**
 * The terms of an address sum as JS expressions: `lo` adds up to the low half (carries
 * included), `hi` to the high half. A displacement that fits 32 bits is one signed term.
 */
function addrTerms(m: MemOperand): { lo: string[]; hi: string[] } {
  const small = (m.dispHi === 0 && m.dispLo < 0x80000000) ||
    (m.dispHi === 0xffffffff && m.dispLo >= 0x80000000);
  const d = small ? (m.dispLo | 0) : m.dispLo;
  const lo: string[] = [], hi: string[] = [];
  if (m.base >= 0) {
    lo.push(`L[${m.base}]`);
    hi.push(`H[${m.base}]`);
  }
  if (m.index >= 0) {
    lo.push(m.scale === 1 ? `L[${m.index}]` : `L[${m.index}] * ${m.scale}`);
    hi.push(m.scale === 1 ? `H[${m.index}]` : `H[${m.index}] * ${m.scale}`);
  }
  if (d !== 0) lo.push(hexNum(d));
  if (!small && m.dispHi !== 0) hi.push(hexNum(m.dispHi));
  if (lo.length === 0) lo.push("0");
  if (hi.length === 0) hi.push("0");
  return { lo, hi };
}

function eaExpr(m: MemOperand): string {
  let e: string;
  if (m.ripRel || (m.base < 0 && m.index < 0)) {
    const a = linearFromHalves(m.dispLo, m.dispHi);
    e = Number.isNaN(a) ? "NaN" : hexNum(a);
  } else {
    const { lo, hi } = addrTerms(m);
    e = `lin(${lo.join(" + ")}, ${hi.join(" + ")})`;
  }
  if (m.seg === 4) return `segAdd(c.fsBase, ${e})`;
  if (m.seg === 5) return `segAdd(c.gsBase, ${e})`;
  return e;
}

/** Read a GPR at width w: [lo, hi] expressions. */
function regRead(o: Operand, w: number): [string, string] {
  const r = o.reg;
  switch (w) {
    case 8:
      return [`L[${r}]`, `H[${r}]`];
    case 4:
      return [`L[${r}]`, "0"];
    case 2:
      return [`(L[${r}] & 0xffff)`, "0"];
    default:
      return [o.high ? `((L[${r}] >>> 8) & 0xff)` : `(L[${r}] & 0xff)`, "0"];
  }
}

/** Statements writing a GPR at width w from [lo, hi] expressions. */
function regWrite(o: Operand, w: number, lo: string, hi: string): string {
  const r = o.reg;
  switch (w) {
    case 8:
      return `L[${r}] = ${lo}; H[${r}] = ${hi};`;
    case 4:
      return `L[${r}] = ${lo}; H[${r}] = 0;`;
    case 2:
      return `L[${r}] = (L[${r}] & 0xffff0000) | ((${lo}) & 0xffff);`;
    default:
      return o.high
        ? `L[${r}] = (L[${r}] & 0xffff00ff) | (((${lo}) & 0xff) << 8);`
        : `L[${r}] = (L[${r}] & 0xffffff00) | ((${lo}) & 0xff);`;
  }
}

function immRead(o: Operand, w: number): [string, string] {
  if (w === 8) return [hexNum(o.immLo >>> 0), hexNum(o.immHi >>> 0)];
  const v = w === 4 ? o.immLo >>> 0 : o.immLo & (w === 2 ? 0xffff : 0xff);
  return [hexNum(v), "0"];
}

function rdFn(w: number): string {
  return w === 8 ? "rd64" : w === 4 ? "rd32" : w === 2 ? "rd16" : "rd8";
}

/**
 * A memory operand's address: 64-bit halves `l`/`h` (u32 expressions) for the inline TLB probe,
 * or a canonical-number expression `canon` (segment-based operands), which goes through the
 * accessor functions.
 */
interface Addr {
  l: string;
  h: string;
  canon: string | null;
}

/** Emit the address computation of `m` (into `eal`/`eah` or `ea`). */
function memAddr(g: Gen, m: MemOperand): Addr {
  if (m.seg !== 0) {
    g.emit(`const ea = ${eaExpr(m)};`);
    return { l: "", h: "", canon: "ea" };
  }
  if (m.ripRel || (m.base < 0 && m.index < 0)) {
    const a = linearFromHalves(m.dispLo, m.dispHi);
    if (Number.isNaN(a)) return { l: "", h: "", canon: "NaN" };
    return { l: hexNum(a >>> 0), h: hexNum(Math.floor(a / 4294967296) >>> 0), canon: null };
  }
  if (m.index < 0 && m.dispLo === 0 && m.dispHi === 0) {
    g.emit(`const eal = L[${m.base}], eah = H[${m.base}];`);
    return { l: "eal", h: "eah", canon: null };
  }
  const { lo, hi } = addrTerms(m);
  g.emit(`const eax = ${lo.join(" + ")}, eal = eax >>> 0;`);
  g.emit(`const eah = (${hi.join(" + ")} + (eax - eal) / 4294967296) >>> 0;`);
  return { l: "eal", h: "eah", canon: null };
}

/** Condition of an inline TLB hit for a `w`-byte access through entry `tp` at offset `o`. */
function tlbHit(tp: string, o: string, A: Addr, w: number): string {
  return `${tp}.tagLo === (${A.l} >>> 12) && ${tp}.tagHi === ${A.h}` +
    (w > 1 ? ` && ${o} <= ${4096 - w}` : "");
}

/** Emit a `w`-byte load; returns the [lo, hi] locals. */
function load(g: Gen, w: number, A: Addr): [string, string] {
  const v = g.t();
  if (A.canon !== null) {
    if (w === 8) {
      g.emit(`const ${v} = rd64(${A.canon}), ${v}h = S.hi;`);
      return [v, `${v}h`];
    }
    g.emit(`const ${v} = ${rdFn(w)}(${A.canon});`);
    return [v, "0"];
  }
  const tp = `${v}p`, o = `${v}o`;
  g.emit(`const ${tp} = RT[(${A.l} >>> 12) & 1023], ${o} = ${A.l} & 4095;`);
  const slow = `M.${rdFn(w)}(lin(${A.l}, ${A.h}))`;
  if (w === 8) {
    g.emit(`let ${v}, ${v}h; if (${tlbHit(tp, o, A, 8)}) {`);
    g.emit(
      `${v} = ${tp}.view.getUint32(${o}, true); ${v}h = ${tp}.view.getUint32(${o} + 4, true);`,
    );
    g.emit(`} else { ${v} = ${slow}; ${v}h = M.hi; }`);
    return [v, `${v}h`];
  }
  const fast = w === 1 ? `${tp}.data[${o}]` : `${tp}.view.getUint${w * 8}(${o}, true)`;
  g.emit(`const ${v} = ${tlbHit(tp, o, A, w)} ? ${fast} : ${slow};`);
  return [v, "0"];
}

/**
 * Statements storing a `w`-byte value at `A`. Only the checked slow path can hit a page with
 * decoded code (the write TLB holds none), so only it sets `sm`, which the instruction's
 * self-modification check tests before looking at `B.valid`.
 */
function memWrite(w: number, A: Addr, lo: string, hi: string): string {
  if (A.canon !== null) {
    switch (w) {
      case 8:
        return `sm = 1; wr64(${A.canon}, ${lo}, ${hi});`;
      case 4:
        return `sm = 1; wr32(${A.canon}, ${lo});`;
      case 2:
        return `sm = 1; wr16(${A.canon}, ${lo});`;
      default:
        return `sm = 1; wr8(${A.canon}, ${lo});`;
    }
  }
  const head = `{ const tp = WT[(${A.l} >>> 12) & 1023], o = ${A.l} & 4095; if (${
    tlbHit("tp", "o", A, w)
  }) `;
  const slowAddr = `lin(${A.l}, ${A.h})`;
  switch (w) {
    case 8:
      return head +
        `{ tp.view.setUint32(o, ${lo}, true); tp.view.setUint32(o + 4, ${hi}, true); }` +
        ` else { sm = 1; M.wr64(${slowAddr}, ${lo} >>> 0, ${hi} >>> 0); } }`;
    case 4:
      return head +
        `tp.view.setUint32(o, ${lo}, true); else { sm = 1; M.wr32(${slowAddr}, ${lo} >>> 0); } }`;
    case 2:
      return head +
        `tp.view.setUint16(o, ${lo}, true); else { sm = 1; M.wr16(${slowAddr}, ${lo} & 0xffff); } }`;
    default:
      return head + `tp.data[o] = ${lo}; else { sm = 1; M.wr8(${slowAddr}, ${lo} & 0xff); } }`;
  }
}

/** The self-modification check after an instruction whose stores went through `memWrite`. */
const SMC = "if (sm !== 0 && (sm = 0, !B.valid))";

/** Read operand `o` (GPR, memory at `A`, immediate) into locals; returns [lo, hi]. */
function readOp(g: Gen, o: Operand, w: number, A: Addr | null): [string, string] {
  if (o.kind === OPK_IMM) return immRead(o, w);
  if (o.kind === OPK_REG) {
    const [lo, hi] = regRead(o, w);
    const v = g.t();
    if (w === 8) {
      g.emit(`const ${v} = ${lo}, ${v}h = ${hi};`);
      return [v, `${v}h`];
    }
    g.emit(`const ${v} = ${lo};`);
    return [v, "0"];
  }
  return load(g, w, A!);
}

/** Statements pushing a u64 (rsp -= 8, store); leaves the new rsp halves in `sl`/`sh`. */
function pushCode(lo: string, hi: string): string {
  const A: Addr = { l: "sl", h: "sh", canon: null };
  return `let sl = L[4] - 8, sh = H[4]; if (sl < 0) { sl += 4294967296; sh = (sh - 1) >>> 0; }\n` +
    `${memWrite(8, A, lo, hi)}\nL[4] = sl; H[4] = sh;`;
}

/** Canonical number of halves known to be canonical. */
function canonOf(l: string, h: string): string {
  return `(${h} <= 0x7fff ? ${h} * 4294967296 + ${l} : (${h} - 4294967296) * 4294967296 + ${l})`;
}

/** Emit a pop of a u64 into locals (rsp += 8); returns [lo, hi] and the old rsp halves. */
function popCode(g: Gen, extra = 0): [string, string] {
  g.emit("const sl = L[4], sh = H[4];");
  const [v, vh] = load(g, 8, { l: "sl", h: "sh", canon: null });
  g.emit(
    `{ const nl = sl + ${8 + extra}; if (nl >= 4294967296) { L[4] = nl - 4294967296; ` +
      `H[4] = (sh + 1) >>> 0; } else L[4] = nl; }`,
  );
  return [v, vh];
}

function isGpr(o: Operand | undefined): o is Operand {
  return o !== undefined && o.kind === OPK_REG && o.rc === RC_GPR;
}

function isRm(o: Operand | undefined): o is Operand {
  return o !== undefined && ((o.kind === OPK_REG && o.rc === RC_GPR) || o.kind === OPK_MEM);
}

function isRmi(o: Operand | undefined): o is Operand {
  return o !== undefined && (o.kind === OPK_IMM || isRm(o));
}

// Instruction emitters ------------------------------------------------------------------------

/** Emit the body of one instruction natively. Returns false to fall back to its handler. */
function emitNative(g: Gen, i: Insn): boolean | "store" {
  const [d, s] = i.ops;
  const m = i.mnemonic;
  const hasMem = i.mem !== null;
  if (hasMem && i.mem!.addr32) return false;
  const setupEa = (): Addr | null => (hasMem ? memAddr(g, i.mem!) : null);
  if (NOP_MNEMONICS.has(m)) return true;
  switch (m) {
    case M.Mov: {
      if (!isRm(d) || !isRmi(s)) return false;
      const w = d.w;
      const ea = setupEa();
      const [lo, hi] = s.kind === OPK_MEM
        ? readOp(g, s, w, ea)
        : s.kind === OPK_IMM
        ? immRead(s, w)
        : readOp(g, s, w, ea);
      if (d.kind === OPK_MEM) {
        g.emit(memWrite(w, ea!, lo, hi));
        return "store";
      }
      g.emit(regWrite(d, w, lo, hi));
      return true;
    }
    case M.Movzx:
    case M.Movsx:
    case M.Movsxd: {
      if (!isGpr(d) || !isRm(s)) return false;
      const w = d.w, ws = s.w;
      const ea = setupEa();
      const [v] = readOp(g, s, ws, ea);
      if (m === M.Movzx || ws === w) {
        g.emit(regWrite(d, w, v, "0"));
        return true;
      }
      const x = g.t();
      g.emit(`const ${x} = ${signExt(v, ws)};`);
      if (w === 8) g.emit(regWrite(d, 8, `${x} >>> 0`, `${x} < 0 ? 0xffffffff : 0`));
      else g.emit(regWrite(d, w, w === 4 ? `${x} >>> 0` : `${x} & ${mask(w)}`, "0"));
      return true;
    }
    case M.Lea: {
      if (!isGpr(d) || !hasMem || i.mem!.seg !== 0) return false;
      const mm = i.mem!;
      const w = d.w;
      if (mm.ripRel) {
        if (w === 8) g.emit(regWrite(d, 8, hexNum(mm.dispLo), hexNum(mm.dispHi)));
        else g.emit(regWrite(d, w, hexNum(w === 4 ? mm.dispLo : mm.dispLo & 0xffff), "0"));
        return true;
      }
      const { lo, hi } = addrTerms(mm);
      const x = g.t();
      g.emit(`const ${x} = ${lo.join(" + ")};`);
      if (w === 8) {
        g.emit(`const ${x}l = ${x} >>> 0;`);
        g.emit(
          regWrite(d, 8, `${x}l`, `(${hi.join(" + ")} + (${x} - ${x}l) / 4294967296) >>> 0`),
        );
      } else g.emit(regWrite(d, w, w === 4 ? `${x} >>> 0` : `${x} & 0xffff`, "0"));
      return true;
    }
    case M.Add:
    case M.Sub:
    case M.Cmp:
    case M.And:
    case M.Or:
    case M.Xor:
    case M.Test: {
      if (!isRm(d) || !isRmi(s) || i.ops.length !== 2) return false;
      const w = d.w;
      const ea = setupEa();
      const [bl, bh] = readOp(g, s, w, ea);
      const [al, ah] = readOp(g, d, w, ea);
      const logic = m === M.And || m === M.Or || m === M.Xor || m === M.Test;
      const store = m !== M.Cmp && m !== M.Test;
      if (logic) {
        const p = g.newProducer(LAZY_LOGIC, w);
        const op = m === M.Or ? "|" : m === M.Xor ? "^" : "&";
        // xor r, r: the result is 0 whatever the register held.
        if (m === M.Xor && isGpr(d) && isGpr(s) && d.reg === s.reg && d.high === s.high) {
          g.emit(`${p.r} = 0;${w === 8 ? ` ${p.rh} = 0;` : ""}`);
        } else {
          g.emit(`${p.r} = (${al} ${op} ${bl}) >>> 0;`);
          if (w === 8) g.emit(`${p.rh} = (${ah} ${op} ${bh}) >>> 0;`);
        }
        if (w !== 8) p.rh = "0";
        if (store) {
          if (d.kind === OPK_MEM) g.emit(memWrite(w, ea!, p.r, p.rh));
          else g.emit(regWrite(d, w, p.r, p.rh));
        }
        g.flags = p;
        return store && d.kind === OPK_MEM ? "store" : true;
      }
      const p = g.newProducer(m === M.Add ? LAZY_ADD : LAZY_SUB, w);
      g.emit(
        `${p.a} = ${al}; ${p.b} = ${bl};${w === 8 ? ` ${p.ah} = ${ah}; ${p.bh} = ${bh};` : ""}`,
      );
      if (w !== 8) {
        p.ah = "0";
        p.bh = "0";
      }
      if (m === M.Add) {
        if (w === 8) {
          const x = g.t();
          g.emit(`const ${x} = ${al} + ${bl}; ${p.r} = ${x} >>> 0;`);
          g.emit(`const ${x}h = ${ah} + ${bh} + (${x} > 0xffffffff ? 1 : 0);`);
          g.emit(`${p.rh} = ${x}h >>> 0; ${p.cf} = ${x}h > 0xffffffff ? 1 : 0;`);
        } else {
          const x = g.t();
          g.emit(`const ${x} = ${al} + ${bl};`);
          g.emit(
            `${p.r} = ${w === 4 ? `${x} >>> 0` : `${x} & ${mask(w)}`}; ${p.cf} = ${x} > ${
              mask(w)
            } ? 1 : 0;`,
          );
          p.rh = "0";
        }
      } else if (store) {
        if (w === 8) {
          const x = g.t();
          g.emit(`const ${x} = ${al} - ${bl}; ${p.r} = ${x} >>> 0;`);
          g.emit(`${p.rh} = (${ah} - ${bh} - (${x} < 0 ? 1 : 0)) >>> 0;`);
        } else {
          g.emit(`${p.r} = (${al} - ${bl}) ${w === 4 ? ">>> 0" : `& ${mask(w)}`};`);
          p.rh = "0";
        }
      }
      if (store) {
        if (d.kind === OPK_MEM) g.emit(memWrite(w, ea!, p.r, p.rh));
        else g.emit(regWrite(d, w, p.r, p.rh));
      }
      g.flags = p;
      return store && d.kind === OPK_MEM ? "store" : true;
    }
    case M.Inc:
    case M.Dec:
    case M.Neg:
    case M.Not: {
      if (!isRm(d) || i.ops.length !== 1) return false;
      const w = d.w;
      const ea = setupEa();
      const [al, ah] = readOp(g, d, w, ea);
      if (m === M.Not) {
        const x = g.t();
        g.emit(`const ${x} = ~${al} ${w === 4 || w === 8 ? ">>> 0" : `& ${mask(w)}`};`);
        const hi = w === 8 ? `~${ah} >>> 0` : "0";
        if (d.kind === OPK_MEM) {
          g.emit(memWrite(w, ea!, x, hi));
          return "store";
        }
        g.emit(regWrite(d, w, x, hi));
        return true;
      }
      if (m === M.Neg) {
        const p = g.newProducer(LAZY_SUB, w);
        g.emit(`${p.a} = 0; ${p.b} = ${al};${w === 8 ? ` ${p.ah} = 0; ${p.bh} = ${ah};` : ""}`);
        if (w !== 8) {
          p.ah = "0";
          p.bh = "0";
        }
        const x = g.t();
        if (w === 8) {
          g.emit(`const ${x} = (0 - ${al}) >>> 0;`);
          g.emit(`const ${x}h = (0 - ${ah} - (${al} !== 0 ? 1 : 0)) >>> 0;`);
        } else g.emit(`const ${x} = (0 - ${al}) ${w === 4 ? ">>> 0" : `& ${mask(w)}`};`);
        const hi = w === 8 ? `${x}h` : "0";
        if (d.kind === OPK_MEM) g.emit(memWrite(w, ea!, x, hi));
        else g.emit(regWrite(d, w, x, hi));
        g.flags = p;
        return d.kind === OPK_MEM ? "store" : true;
      }
      // inc/dec keep CF: capture it from the current state first.
      const cfExpr = g.cond(3);
      const p = g.newProducer(m === M.Inc ? LAZY_INC : LAZY_DEC, w);
      g.emit(`${p.cf} = ${cfExpr} ? 1 : 0; ${p.a} = ${al};${w === 8 ? ` ${p.ah} = ${ah};` : ""}`);
      if (w !== 8) p.ah = "0";
      const op = m === M.Inc ? "+" : "-";
      if (w === 8) {
        const x = g.t();
        g.emit(`const ${x} = ${al} ${op} 1; ${p.r} = ${x} >>> 0;`);
        g.emit(
          `${p.rh} = (${ah} ${op} (${x} ${m === M.Inc ? "> 0xffffffff" : "< 0"} ? 1 : 0)) >>> 0;`,
        );
      } else {
        g.emit(`${p.r} = (${al} ${op} 1) ${w === 4 ? ">>> 0" : `& ${mask(w)}`};`);
        p.rh = "0";
      }
      if (d.kind === OPK_MEM) g.emit(memWrite(w, ea!, p.r, p.rh));
      else g.emit(regWrite(d, w, p.r, p.rh));
      g.flags = p;
      return d.kind === OPK_MEM ? "store" : true;
    }
    case M.Push: {
      if (!isRmi(d) || (d.kind !== OPK_IMM && d.w !== 8) || i.bytes[0] === 0x66) return false;
      const ea = setupEa();
      const [lo, hi] = readOp(g, d, 8, ea);
      g.emit(`{ ${pushCode(lo, hi)} }`);
      return "store";
    }
    case M.Pop: {
      if (!isGpr(d) || d.w !== 8) return false;
      g.emit("{");
      const [v, vh] = popCode(g);
      g.emit(`${regWrite(d, 8, v, vh)} }`);
      return true;
    }
    case M.Setb:
    case M.Setae:
    case M.Sete:
    case M.Setne:
    case M.Setbe:
    case M.Seta:
    case M.Sets:
    case M.Setns:
    case M.Setp:
    case M.Setnp:
    case M.Setl:
    case M.Setge:
    case M.Setle:
    case M.Setg:
    case M.Seto:
    case M.Setno: {
      if (!isRm(d) || i.cc === 0) return false;
      const ea = setupEa();
      const v = `(${g.cond(i.cc)} ? 1 : 0)`;
      if (d.kind === OPK_MEM) {
        g.emit(memWrite(1, ea!, v, "0"));
        return "store";
      }
      g.emit(regWrite(d, 1, v, "0"));
      return true;
    }
    case M.Cdqe:
      g.emit("H[0] = (L[0] | 0) < 0 ? 0xffffffff : 0;");
      return true;
    case M.Cqo:
      g.emit("{ const v = (H[0] | 0) < 0 ? 0xffffffff : 0; L[2] = v; H[2] = v; }");
      return true;
    case M.Cdq:
      g.emit("L[2] = (L[0] | 0) < 0 ? 0xffffffff : 0; H[2] = 0;");
      return true;
    case M.Xchg: {
      if (!isGpr(d) || !isGpr(s) || d.w < 4) return false;
      const w = d.w;
      const [al, ah] = readOp(g, d, w, null);
      const [bl, bh] = readOp(g, s, w, null);
      g.emit(regWrite(d, w, bl, bh));
      g.emit(regWrite(s, w, al, ah));
      return true;
    }
    case M.Imul: {
      // Two- and three-operand forms; the one-operand ones go through the handler.
      if (i.ops.length < 2 || !isGpr(d) || d.w < 4) return false;
      const src = i.ops.length === 3 ? i.ops[1]! : s!;
      const mul = i.ops.length === 3 ? i.ops[2]! : d;
      if (!isRm(src) || !isRmi(mul)) return false;
      const w = d.w;
      const ea = setupEa();
      const [b, bh] = readOp(g, src, w, ea);
      const [a, ah] = readOp(g, mul, w, ea);
      const p = g.newProducer(LAZY_RES, w);
      if (w === 4) {
        const x = g.t();
        g.emit(`const ${x} = (${a} | 0) * (${b} | 0); ${p.r} = Math.imul(${a}, ${b}) >>> 0;`);
        g.emit(`${p.cf} = ${x} < -2147483648 || ${x} >= 2147483648 ? 1 : 0; ${p.b} = ${p.cf};`);
        p.rh = "0";
      } else {
        emitMul64(g, a, ah, b, bh, p.r, p.rh, p.cf);
        g.emit(`${p.b} = ${p.cf};`);
      }
      g.emit(regWrite(d, w, p.r, p.rh));
      g.flags = p;
      return true;
    }
    case M.Rol:
    case M.Ror: {
      if (!isRm(d) || s === undefined || s.kind !== OPK_IMM || i.ops.length !== 2) return false;
      const w = d.w;
      const cnt = s.immLo & (w === 8 ? 63 : 31);
      if (cnt === 0) return false;
      const ea = setupEa();
      const [a, ah] = readOp(g, d, w, ea);
      const [r, rh] = emitRotate(g, m === M.Rol, w, a, ah, cnt);
      if (d.kind === OPK_MEM) g.emit(memWrite(w, ea!, r, rh));
      else g.emit(regWrite(d, w, r, rh));
      return d.kind === OPK_MEM ? "store" : true;
    }
    case M.Shl:
    case M.Sal:
    case M.Shr:
    case M.Sar: {
      if (!isRm(d) || s === undefined || s.kind !== OPK_IMM || i.ops.length !== 2) return false;
      const w = d.w;
      const cnt = s.immLo & (w === 8 ? 63 : 31);
      if (cnt === 0) return false; // flags unchanged: the handler does it
      const ea = setupEa();
      const [a, ah] = readOp(g, d, w, ea);
      const p = g.newProducer(LAZY_RES, w);
      emitShift(g, p, m === M.Shr ? 1 : m === M.Sar ? 2 : 0, w, a, ah, cnt);
      if (d.kind === OPK_MEM) g.emit(memWrite(w, ea!, p.r, p.rh));
      else g.emit(regWrite(d, w, p.r, p.rh));
      g.flags = p;
      return d.kind === OPK_MEM ? "store" : true;
    }
    case M.Cmova:
    case M.Cmovae:
    case M.Cmovb:
    case M.Cmovbe:
    case M.Cmove:
    case M.Cmovne:
    case M.Cmovg:
    case M.Cmovge:
    case M.Cmovl:
    case M.Cmovle:
    case M.Cmovs:
    case M.Cmovns:
    case M.Cmovo:
    case M.Cmovno:
    case M.Cmovp:
    case M.Cmovnp: {
      if (!isGpr(d) || !isRm(s) || i.cc === 0) return false;
      const w = d.w;
      const ea = setupEa();
      const [lo, hi] = readOp(g, s, w, ea); // the source is read (and may fault) either way
      g.emit(`if ${g.cond(i.cc)} { ${regWrite(d, w, lo, hi)} }`);
      if (w === 4) g.emit(`else H[${d.reg}] = 0;`);
      return true;
    }
  }
  return false;
}

/**
 * Shift by a constant count (1..63) with the exact results and flags of `alu.ts`'s `shift`
 * (kind 0 shl, 1 shr, 2 sar): sets the producer's r/rh, cf and of (in `b`).
 */
function emitShift(g: Gen, p: Producer, kind: number, w: number, a: string, ah: string, n: number) {
  const e = (s: string) => g.emit(s);
  if (w === 8) {
    if (kind === 0) {
      if (n < 32) {
        e(`${p.rh} = ((${ah} << ${n}) | (${a} >>> ${
          32 - n
        })) >>> 0; ${p.r} = (${a} << ${n}) >>> 0;`);
        e(`${p.cf} = (${ah} >>> ${32 - n}) & 1;`);
      } else if (n === 32) e(`${p.rh} = ${a}; ${p.r} = 0; ${p.cf} = ${ah} & 1;`);
      else {
        e(`${p.rh} = (${a} << ${n - 32}) >>> 0; ${p.r} = 0; ${p.cf} = (${a} >>> ${64 - n}) & 1;`);
      }
      e(`${p.b} = (${p.rh} >>> 31) ^ ${p.cf};`);
      return;
    }
    const sar = kind === 2;
    const fill = sar ? `((${ah} | 0) >> 31) >>> 0` : "0";
    if (n < 32) {
      e(`${p.r} = ((${a} >>> ${n}) | (${ah} << ${32 - n})) >>> 0;`);
      e(`${p.rh} = ${sar ? `((${ah} | 0) >> ${n}) >>> 0` : `${ah} >>> ${n}`};`);
      e(`${p.cf} = (${a} >>> ${n - 1}) & 1;`);
    } else if (n === 32) e(`${p.r} = ${ah}; ${p.rh} = ${fill}; ${p.cf} = ${a} >>> 31;`);
    else {
      e(`${p.r} = ${sar ? `((${ah} | 0) >> ${n - 32}) >>> 0` : `${ah} >>> ${n - 32}`};`);
      e(`${p.rh} = ${fill}; ${p.cf} = (${ah} >>> ${n - 33}) & 1;`);
    }
    e(`${p.b} = ${sar ? "0" : `((${ah} ^ ${p.rh}) >>> 31) & 1`};`);
    return;
  }
  const bits = w * 8, sb = bits - 1;
  p.rh = "0";
  if (kind === 0) {
    if (w === 4) e(`${p.r} = (${a} << ${n}) >>> 0; ${p.cf} = (${a} >>> ${32 - n}) & 1;`);
    else {
      e(`{ const v = ${a} * ${2 ** n}; ${p.r} = v % ${2 ** bits};`);
      e(`${p.cf} = Math.floor(v / ${2 ** bits}) & 1; }`);
    }
    e(`${p.b} = ((${p.r} >>> ${sb}) & 1) ^ ${p.cf};`);
  } else if (kind === 1) {
    e(`${p.r} = ${n >= bits ? "0" : `${a} >>> ${n}`};`);
    e(`${p.cf} = ${n > bits ? "0" : `(${a} >>> ${n - 1}) & 1`};`);
    e(`${p.b} = ((${a} ^ ${p.r}) >>> ${sb}) & 1;`);
  } else {
    const sa = signExt(a, w);
    e(`${p.r} = (${sa} >> ${Math.min(n, 31)}) ${w === 4 ? ">>> 0" : `& ${mask(w)}`};`);
    e(`${p.cf} = (${sa} >> ${Math.min(n - 1, 31)}) & 1; ${p.b} = 0;`);
  }
}

/**
 * The signed 64×64 product of [a, ah]·[b, bh] (as `alu.ts`'s `mul64` computes it, inlined):
 * the low 64 bits into `lo`/`hi`, and into `over` whether the signed result needs more.
 */
function emitMul64(
  g: Gen,
  a: string,
  ah: string,
  b: string,
  bh: string,
  lo: string,
  hi: string,
  over: string,
): void {
  const v = g.t();
  const mulu = (x: string, y: string, l: string, h: string) =>
    `{ const x0 = ${x} & 0xffff, x1 = ${x} >>> 16, y0 = ${y} & 0xffff, y1 = ${y} >>> 16;` +
    ` const q00 = x0 * y0, q01 = x0 * y1, q10 = x1 * y0;` +
    ` const md = (q00 >>> 16) + (q01 & 0xffff) + (q10 & 0xffff);` +
    ` ${h} = (x1 * y1 + (q01 >>> 16) + (q10 >>> 16) + (md >>> 16)) >>> 0;` +
    ` ${l} = ((md << 16) | (q00 & 0xffff)) >>> 0; }`;
  g.emit(
    `let ${v}0 = 0, ${v}c = 0, ${v}m = 0, ${v}mh = 0, ${v}n = 0, ${v}nh = 0, ${v}q = 0, ${v}qh = 0;`,
  );
  g.emit(mulu(a, b, `${v}0`, `${v}c`));
  g.emit(mulu(ah, b, `${v}m`, `${v}mh`));
  g.emit(mulu(a, bh, `${v}n`, `${v}nh`));
  g.emit(mulu(ah, bh, `${v}q`, `${v}qh`));
  g.emit(`const ${v}t = ${v}c + ${v}m + ${v}n, ${v}1 = ${v}t >>> 0;`);
  g.emit(`const ${v}u = ${v}mh + ${v}nh + ${v}q + (${v}t - ${v}1) / 4294967296;`);
  g.emit(`let ${v}2 = ${v}u >>> 0, ${v}3 = (${v}qh + (${v}u - ${v}2) / 4294967296) >>> 0;`);
  g.emit(
    `if ((${ah} | 0) < 0) { const l = ${v}2 - ${b}; ${v}2 = l >>> 0; ${v}3 = (${v}3 - ${bh} - (l < 0 ? 1 : 0)) >>> 0; }`,
  );
  g.emit(
    `if ((${bh} | 0) < 0) { const l = ${v}2 - ${a}; ${v}2 = l >>> 0; ${v}3 = (${v}3 - ${ah} - (l < 0 ? 1 : 0)) >>> 0; }`,
  );
  g.emit(`${lo} = ${v}0; ${hi} = ${v}1;`);
  g.emit(
    `{ const x = (${v}1 | 0) < 0 ? 0xffffffff : 0; ${over} = ${v}2 !== x || ${v}3 !== x ? 1 : 0; }`,
  );
}

/**
 * Rotate by a constant count with `alu.ts`'s results and flags: only CF and OF change, so the
 * flags are made exact first and the two are stored directly. Returns the result [lo, hi].
 */
function emitRotate(
  g: Gen,
  left: boolean,
  w: number,
  a: string,
  ah: string,
  n: number,
): [string, string] {
  g.flush();
  const v = g.t();
  if (w === 8) {
    let lo = a, hi = ah, e = n;
    if (e >= 32) {
      [lo, hi] = [ah, a];
      e -= 32;
    }
    if (e === 0) g.emit(`const ${v} = ${lo}, ${v}h = ${hi};`);
    else if (left) {
      g.emit(`const ${v} = ((${lo} << ${e}) | (${hi} >>> ${32 - e})) >>> 0;`);
      g.emit(`const ${v}h = ((${hi} << ${e}) | (${lo} >>> ${32 - e})) >>> 0;`);
    } else {
      g.emit(`const ${v} = ((${lo} >>> ${e}) | (${hi} << ${32 - e})) >>> 0;`);
      g.emit(`const ${v}h = ((${hi} >>> ${e}) | (${lo} << ${32 - e})) >>> 0;`);
    }
    if (left) g.emit(`c.lop = 0; c.cf = ${v} & 1; c.of = (${v}h >>> 31) ^ c.cf;`);
    else g.emit(`c.lop = 0; c.cf = ${v}h >>> 31; c.of = c.cf ^ ((${v}h >>> 30) & 1);`);
    return [v, `${v}h`];
  }
  const bits = w * 8, sb = bits - 1, e = n % bits;
  const fix = w === 4 ? ">>> 0" : `& ${mask(w)}`;
  if (e === 0) g.emit(`const ${v} = ${a};`);
  else if (left) g.emit(`const ${v} = ((${a} << ${e}) | (${a} >>> ${bits - e})) ${fix};`);
  else g.emit(`const ${v} = ((${a} >>> ${e}) | (${a} << ${bits - e})) ${fix};`);
  if (left) g.emit(`c.cf = ${v} & 1; c.of = ((${v} >>> ${sb}) & 1) ^ c.cf;`);
  else g.emit(`c.cf = (${v} >>> ${sb}) & 1; c.of = c.cf ^ ((${v} >>> ${sb - 1}) & 1);`);
  return [v, "0"];
}

/** Statements running a record's interpreter handler in place. */
function emitHandler(g: Gen, i: Insn, idx: number): void {
  const fr = (i.fr ?? RF_STATUS) & RF_STATUS;
  const fw = (i.fw ?? RF_STATUS) & RF_STATUS;
  if (fr !== 0 || (fw !== 0 && fw !== RF_STATUS) || (fw !== 0 && g.flags.kind === "entry")) {
    g.flush();
  } else if (fw === RF_STATUS && g.flags.kind === "lazy") {
    // The handler overwrites every status flag: the producer need not be stored. (A fault in
    // the handler restores it through the catch fix-up.)
    g.emit("c.lop = 0;");
    g.flags = { kind: "eager" };
  }
  // Flags untouched (fw 0): the current state stays as it is, lazy or not.
  if (fw !== 0) g.flags = { kind: "eager" };
  g.emit(`X[${idx}](c, R[${idx}]);`);
}

/** Emit a control-transfer record (last of a trace or followed). */
function emitBranch(
  g: Gen,
  i: Insn,
  follow: boolean,
  count: number,
  max: number,
  predict: number,
  pair: number,
  paired: boolean,
): void {
  const m = i.mnemonic;
  const d = i.ops[0];
  const direct = !Number.isNaN(i.target);
  const target = direct ? hexNum(i.target) : "";
  const next = hexNum(i.next);
  const ret = i.next;
  if (m === M.Call) {
    let t = target;
    if (!direct) {
      if (!isRm(d) || d.w !== 8) throw new Error("uncompilable call");
      const A = i.mem !== null ? memAddr(g, i.mem) : null;
      const [lo, hi] = readOp(g, d, 8, A);
      g.emit(
        `const tg = lin(${lo}, ${hi}); if (tg !== tg) throw gpf("Non-canonical call target");`,
      );
      t = "tg";
    }
    g.emit(`{ ${pushCode(hexNum(ret >>> 0), hexNum(Math.floor(ret / 4294967296) >>> 0))}`);
    if (paired && direct) {
      const idx = g.k - 1; // this step
      const cs = `cs${idx}`;
      g.decls.add(cs);
      g.emit(`${cs} = ${canonOf("sl", "sh")}; }`);
      g.open.push({ idx, push: `c.calls.onCall(${hexNum(i.ip)}, ${t}, ${next}, ${cs});` });
    } else {
      g.flushOpen();
      g.emit(`c.calls.onCall(${hexNum(i.ip)}, ${t}, ${next}, ${canonOf("sl", "sh")}); }`);
    }
    g.emit(`${SMC} ${g.exit(t, count)}`);
    if (!follow) g.emit(g.exit(t, count));
    return;
  }
  if (m === M.Jmp) {
    if (direct) {
      if (i.target === g.head && g.loop) g.emit(g.backEdge(count, max));
      else if (!follow) g.emit(g.exit(target, count));
      return;
    }
    if (!isRm(d) || d.w !== 8) throw new Error("uncompilable jmp");
    const A = i.mem !== null ? memAddr(g, i.mem) : null;
    const [lo, hi] = readOp(g, d, 8, A);
    g.emit(`const tg = lin(${lo}, ${hi}); if (tg !== tg) throw gpf("Non-canonical jump target");`);
    g.emit(g.exit("tg", count));
    return;
  }
  if (m === M.Ret) {
    const extra = i.ops.length > 0 ? i.ops[0]!.immLo & 0xffff : 0;
    const [rl, rh] = popCode(g, extra);
    g.emit(`const tg = lin(${rl}, ${rh});`);
    g.emit('if (tg !== tg) throw gpf("Non-canonical return address");');
    const top = g.open[g.open.length - 1];
    if (follow && !Number.isNaN(predict) && top !== undefined && top.idx === pair) {
      // The return of an elided call: nothing to track when it goes where the call came from.
      g.open.pop();
      g.emit(`const slot = ${canonOf("sl", "sh")};`);
      g.emit(
        `if (tg !== ${hexNum(predict)} || slot !== cs${pair}) { ${g.openPushes()} ${top.push} ` +
          `c.calls.onReturn(slot, tg); ${g.exit("tg", count, false)} }`,
      );
      return;
    }
    g.flushOpen();
    g.emit(`c.calls.onReturn(${canonOf("sl", "sh")}, tg);`);
    if (follow && !Number.isNaN(predict)) {
      g.emit(`if (tg !== ${hexNum(predict)}) ${g.exit("tg", count)}`);
    } else g.emit(g.exit("tg", count));
    return;
  }
  // Conditional branch: exit (or loop) when taken, fall through otherwise.
  const cond = g.cond(i.cc);
  if (i.target === g.head && g.loop) g.emit(`if ${cond} ${g.backEdge(count, max)}`);
  else g.emit(`if ${cond} ${g.exit(target, count)}`);
  if (!follow) g.emit(g.exit(next, count));
}

/** Compile the trace at `head`; NO_BLOCK when its first instruction cannot start a block. */
export function compileTrace(
  c: Cpu,
  head: Insn,
  h: Helpers,
  maxLen: number,
  keepSource = false,
): Block {
  const steps = selectTrace(c, head, maxLen);
  if (steps.length === 0) return NO_BLOCK;
  const loop = steps.some((s) =>
    (s.rec.flow === 1 || s.rec.flow === 3) && s.rec.target === head.ip
  );
  const g = new Gen(head.ip, loop);
  const pairedCalls = new Set(steps.map((s) => s.pair).filter((p) => p >= 0));
  const X: ((c: Cpu, i: Insn) => void)[] = [];
  const R: Insn[] = [];
  const max = steps.length;
  for (let idx = 0; idx < steps.length; idx++) {
    const { rec, follow, predict, pair } = steps[idx]!;
    const last = idx === steps.length - 1;
    g.begin(rec);
    g.k++;
    g.emit("{");
    const count = idx + 1;
    if (rec.flow !== 0) {
      emitBranch(g, rec, follow || !last, count, max, predict, pair, pairedCalls.has(idx));
      if (!last && rec.flow !== 3 && !follow) break;
    } else {
      const r = emitNative(g, rec);
      if (r === false) {
        X.push(rec.exec);
        R.push(rec);
        emitHandler(g, rec, X.length - 1);
        g.emit(`if (!B.valid) ${g.exit(hexNum(rec.next), count)}`);
      } else if (r === "store") g.emit(`${SMC} ${g.exit(hexNum(rec.next), count)}`);
      if (last) g.emit(g.exit(hexNum(rec.next), count));
    }
    g.emit("}");
  }
  // Catch: report the state before the faulting instruction.
  const cases = g.fixups.map((f, k) => (f === "" ? "" : `case ${k}: ${f} break;`)).join(" ");
  const ipList = g.ips.map(hexNum).join(", ");
  const body = g.lines.join("\n");
  const decls = [...g.decls];
  const src = [
    `const { rd8, rd16, rd32, rd64, wr8, wr16, wr32, wr64, S, lin, mat, PAR,` +
    ` gpf, segAdd, mul64, P, RT, WT } = h;`,
    `const M = h.mem;`,
    `const IPS = [${ipList}];`,
    `return function block(c, budget, depth) {`,
    `const L = c.lo, H = c.hi;`,
    `let k = 0, rc = 0, xi = 0, sm = 0${loop ? ", n = 0" : ""};`,
    decls.length > 0 ? `let ${decls.map((d) => `${d} = 0`).join(", ")};` : "",
    `out: {`,
    `try {`,
    loop ? "for (;;) {" : "",
    body,
    loop ? "}" : 'throw new Error("block fell through");',
    `} catch (e) {`,
    cases !== "" ? `switch (k) { ${cases} }` : "",
    `c.rip = IPS[k]; c.jn = ${loop ? "n + " : ""}k; throw e;`,
    `}`,
    `}`,
    // Chain to the linked successor of this exit, or hand it to the CPU loop to link.
    `const s = B.x[xi];`,
    `if (s !== null && depth < ${CHAIN_DEPTH} && s.start === c.rip && s.valid && s.max <= budget - rc) {`,
    `try { return rc + s.fn(c, budget - rc, depth + 1); } catch (e) { c.jn += rc; throw e; }`,
    `}`,
    `c.xb = B; c.xi = xi;`,
    `return rc;`,
    `};`,
  ].join("\n");
  const ranges: number[] = [];
  for (const { rec } of steps) {
    const n = ranges.length;
    if (n > 0 && ranges[n - 1] === rec.ip) ranges[n - 1] = rec.next;
    else ranges.push(rec.ip, rec.next);
  }
  const block = new Block(head, head.ip, max, ranges, keepSource ? src : "");
  let factory: (h: Helpers, X: unknown[], R: Insn[], B: Block) => Block["fn"];
  try {
    factory = new Function("h", "X", "R", "B", src) as typeof factory;
  } catch (e) {
    throw new Error(`Block compiler produced invalid code at ${hex(head.ip)}: ${e}\n${src}`);
  }
  block.fn = factory(h, X, R, block);
  block.x = new Array(g.exits).fill(null);
  if (!c.mem.addBlock(block)) return NO_BLOCK;
  return block;
}

export { fromLinear };
