/**
 * One emulated x86-64 CPU: registers, flags, the fetch/execute loop.
 *
 * Registers are two `Uint32Array(16)` halves (`lo`, `hi`), indexed in encoding order
 * (rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi, r8..r15): BigInt registers are about 3× slower
 * (emulation.md §3). `rip` and segment bases are canonical numbers (see `address.ts`).
 *
 * @module
 */

import { CpuFault } from "./faults.ts";
import { fromLinear, hex, linearFromHalves, toLinear } from "./address.ts";
import type { Memory } from "./memory.ts";
import { decodeAt, type Insn } from "./decoder.ts";
import { type FlagState, getRflags, setRflags } from "./flags.ts";
import { type LazyFlagState, materializeFlags } from "./alu.ts";
import { CpuModel, MSR_EFER } from "./cpu_model.ts";
import { CallTracker } from "./stack.ts";
import { type Block, blockBoundary, Jit, type JitOptions, NO_BLOCK } from "./jit.ts";
import "./interp.ts";

/** Names of the 64-bit general-purpose registers in encoding order. */
export const GPR_NAMES = [
  "rax",
  "rcx",
  "rdx",
  "rbx",
  "rsp",
  "rbp",
  "rsi",
  "rdi",
  "r8",
  "r9",
  "r10",
  "r11",
  "r12",
  "r13",
  "r14",
  "r15",
] as const;

/** A general-purpose register name. */
export type GprName = typeof GPR_NAMES[number];

/** Why `Cpu.run` stopped early. */
export const STOP_NONE = 0;
/** The host return trap was reached (call helper). */
export const STOP_RETURN = 1;
/** `hlt` executed. */
export const STOP_HALT = 2;
/** `pause` executed while `yieldOnPause` is set (spin loop hint for the scheduler). */
export const STOP_PAUSE = 3;
/** A host hook asked to stop. */
export const STOP_HOST = 4;

/** Hooks a machine installs on its CPUs. */
export interface CpuHooks {
  /** Port I/O: `value` undefined for `in`. Missing hook: `IO` fault. */
  io?(cpu: Cpu, port: number, size: number, value: number | undefined): number;
  /** Called on serializing instructions (cpuid, wrmsr, mov to cr, iretq, invlpg, wbinvd...). */
  serialize?(cpu: Cpu): void;
  /** Called when a CPU executes a stale record in strict cross-modifying-code mode. */
  staleExecution?(cpu: Cpu, insn: Insn): void;
  /** Time stamp counter of the CPU (default: its retired instruction count). */
  tsc?(cpu: Cpu): bigint;
  /** MSR read override; return undefined to fall back to the MSR table. */
  rdmsr?(cpu: Cpu, index: number): bigint | undefined;
  /** MSR write observer; return false to raise #GP. */
  wrmsr?(cpu: Cpu, index: number, value: bigint): boolean | void;
}

/** Options of {@linkcode Cpu}. */
export interface CpuOptions {
  /** CPU index (default 0). */
  index?: number;
  /** CPU model (default Intel). */
  model?: CpuModel;
  /** Hooks. */
  hooks?: CpuHooks;
  /**
   * Compile hot code to JavaScript (`jit.ts`): `true` (default thresholds), options, or `false`
   * (interpret only). Default false for a bare CPU; {@linkcode Machine} turns it on.
   */
  jit?: boolean | JitOptions;
}

/**
 * An x86-64 CPU executing from a {@linkcode Memory}.
 *
 * @example Run three instructions
 * ```ts
 * import { Cpu, Memory, PERM_RX } from "@lpkit/x86-emu";
 * import assert from "node:assert/strict";
 * const mem = new Memory();
 * mem.map(0x401000n, 4096, PERM_RX);
 * // mov eax, 5; add rax, rax; hlt
 * mem.write(0x401000n, new Uint8Array([0xb8, 5, 0, 0, 0, 0x48, 0x01, 0xc0, 0xf4]));
 * const cpu = new Cpu(mem);
 * cpu.setRip(0x401000n);
 * cpu.run(100);
 * assert.equal(cpu.getReg("rax"), 10n);
 * assert.equal(cpu.halted, true);
 * ```
 */
export class Cpu implements FlagState, LazyFlagState {
  /** CPU index. */
  readonly index: number;
  /** Guest memory. */
  readonly mem: Memory;
  /** CPU model (vendor, cpuid). */
  readonly model: CpuModel;
  /** Hooks. */
  hooks: CpuHooks;
  /** Low halves of the GPRs. */
  readonly lo: Uint32Array = new Uint32Array(16);
  /** High halves of the GPRs. */
  readonly hi: Uint32Array = new Uint32Array(16);
  /** XMM0-15 as 4 little-endian u32 each. */
  readonly xmm: Uint32Array = new Uint32Array(64);
  /** Instruction pointer (canonical number). */
  rip = 0;
  /** Temporary high half used by handlers. */
  th = 0;
  /** Effective address of the current instruction's memory operand. */
  ea = 0;
  /** CF. */
  cf = 0;
  /** PF. */
  pf = 0;
  /** AF. */
  af = 0;
  /** ZF. */
  zf = 0;
  /** SF. */
  sf = 0;
  /** OF. */
  of = 0;
  /** DF. */
  df = 0;
  /** Other RFLAGS bits (IF set, bit 1). */
  flagsOther = 0x202;
  /**
   * Lazy flags left by compiled code (kind << 4 | width; 0 when `cf`..`of` are exact). Outside
   * `run` it is always 0.
   */
  lop = 0;
  /** Lazy flags: first operand (or logic result), low half. */
  la = 0;
  /** Lazy flags: first operand, high half. */
  lah = 0;
  /** Lazy flags: second operand, low half. */
  lb = 0;
  /** Lazy flags: second operand, high half. */
  lbh = 0;
  /** Lazy flags: preserved carry of inc/dec. */
  lcf = 0;
  /** Instructions a faulting compiled block retired before the fault. */
  jn = 0;
  /** The compiled block that last returned to the CPU loop (to link its exit `xi`). */
  xb: Block | null = null;
  /** Exit of `xb` taken. */
  xi = 0;
  /** The block compiler, or null when interpreting only. */
  jit: Jit | null;
  /** FS base (canonical number). */
  fsBase = 0;
  /** GS base (canonical number). */
  gsBase = 0;
  /** Swapped by `swapgs` (canonical number). */
  kernelGsBase = 0;
  /** Segment selectors ES CS SS DS FS GS. */
  readonly segs: number[] = [0, 0xe008, 0, 0, 0, 0];
  /** Control registers CR0-CR15. */
  readonly cr: bigint[] = new Array(16).fill(0n);
  /** Debug registers DR0-DR15. */
  readonly dr: bigint[] = new Array(16).fill(0n);
  /** XCR0. */
  xcr0 = 3n;
  /** Descriptor table registers (base, limit) and task/LDT selectors, as loaded. */
  readonly tables = { gdtBase: 0n, gdtLimit: 0, idtBase: 0n, idtLimit: 0, tr: 0, ldtr: 0 };
  /** MSR table (reads of absent MSRs raise #GP). */
  readonly msrs: Map<number, bigint> = new Map();
  /** Retired instructions (rep iterations count one each). */
  icount = 0;
  /** Extra iterations retired by the current instruction (rep). */
  extra = 0;
  /** Stop request set by handlers (`STOP_*`). */
  stop: number = STOP_NONE;
  /** Set by `hlt`, cleared by interrupt delivery. */
  halted = false;
  /** Make `pause` end `run` (the scheduler uses it to switch CPUs in spin loops). */
  yieldOnPause = false;
  /** Stale records this CPU may still execute (strict cross-modifying-code mode), or null. */
  stale: Map<number, Insn> | null = null;
  /** Exact call chain. */
  readonly calls: CallTracker = new CallTracker();
  /** State of the rdrand generator. */
  randState: number;

  /**
   * A CPU in its reset state (CR0/CR4/EFER as Xen runs, IF set), executing from `mem`.
   *
   * @param mem Guest memory.
   * @param options Index, model, hooks, block compiler.
   */
  constructor(mem: Memory, options: CpuOptions = {}) {
    this.mem = mem;
    this.index = options.index ?? 0;
    this.model = options.model ?? new CpuModel();
    this.hooks = options.hooks ?? {};
    this.randState = (this.model.seed ^ (this.index * 0x9e3779b9)) >>> 0 || 1;
    const jit = options.jit ?? false;
    this.jit = jit === false ? null : new Jit(mem, jit === true ? {} : jit);
    this.cr[0] = 0x80050033n;
    this.cr[4] = 0x3506f0n;
    this.msrs.set(MSR_EFER, 0xd01n);
  }

  /** Read a GPR as an unsigned bigint. */
  getReg(name: GprName): bigint {
    const r = GPR_NAMES.indexOf(name);
    if (r < 0) throw new RangeError(`Unknown register "${name}"`);
    return (BigInt(this.hi[r]!) << 32n) | BigInt(this.lo[r]!);
  }

  /** Write a GPR (value taken modulo 2^64). */
  setReg(name: GprName, value: bigint): void {
    const r = GPR_NAMES.indexOf(name);
    if (r < 0) throw new RangeError(`Unknown register "${name}"`);
    const u = BigInt.asUintN(64, value);
    this.lo[r] = Number(u & 0xffffffffn);
    this.hi[r] = Number(u >> 32n);
  }

  /** Instruction pointer as an unsigned bigint. */
  getRip(): bigint {
    return fromLinear(this.rip);
  }

  /** Set the instruction pointer. */
  setRip(address: bigint): void {
    this.rip = toLinear(address);
  }

  /** Packed RFLAGS. */
  get rflags(): number {
    if (this.lop !== 0) materializeFlags(this);
    return getRflags(this);
  }

  /** Set RFLAGS from a packed value. */
  set rflags(v: number) {
    this.lop = 0;
    setRflags(this, v);
  }

  /** RSP as a canonical number (#GP if not canonical). */
  rspLinear(): number {
    const a = linearFromHalves(this.lo[4]!, this.hi[4]!);
    if (Number.isNaN(a)) throw new CpuFault("GP", "Non-canonical stack pointer");
    return a;
  }

  /** Set RSP from a canonical number. */
  setRspLinear(a: number): void {
    this.lo[4] = a >>> 0;
    this.hi[4] = Math.floor(a / 4294967296) >>> 0;
  }

  /** Fetch the record at canonical `a` (decode cache, decoding on a miss). */
  fetch(a: number): Insn {
    if (this.stale !== null) {
      const s = this.stale.get(a);
      if (s !== undefined) {
        this.hooks.staleExecution?.(this, s);
        return s;
      }
    }
    const p = this.mem.page(a);
    if (p !== undefined && p.code !== null) {
      const r = p.code[a - p.number * 4096];
      if (r !== undefined) return r;
    }
    return decodeAt(this.mem, a, this.model.decoderOptions);
  }

  /**
   * Execute up to `maxInsns` instructions (a `rep` instruction may overshoot by one chunk).
   * Hot code runs as compiled blocks when the block compiler is on; the result is the same
   * instruction for instruction, and `icount` is exact after every block and instruction.
   *
   * @param maxInsns Instruction budget of this slice.
   * @returns Instructions retired.
   * @throws {CpuFault} on exceptions; `rip` is left at the faulting instruction.
   */
  run(maxInsns: number): number {
    this.stop = STOP_NONE;
    let n = 0;
    let cur = this.rip;
    this.extra = 0;
    const jit = this.jit;
    let prev: Block | null = null, exit = 0;
    let inBlock = false;
    let probe = true; // may a block start here?
    try {
      while (n < maxInsns) {
        cur = this.rip;
        let ins: Insn | undefined;
        if (probe && jit !== null && this.stale === null) {
          // A linked successor, the block cache, then the record's own block (compiling when hot).
          let b: Block | null = null;
          if (prev !== null) {
            const s: Block | null = prev.x[exit]!;
            if (s !== null && s.start === cur && s.valid) b = s;
          }
          if (b === null) {
            b = jit.cache[Jit.slot(cur)]!;
            if (b.start !== cur || !b.valid) {
              ins = this.fetch(cur);
              b = ins.pinned ? null : jit.blockFor(this, ins);
            }
            if (b !== null && b !== NO_BLOCK && prev !== null) prev.x[exit] = b;
          }
          if (b !== null && b.max <= maxInsns - n) {
            inBlock = true;
            const k = b.fn(this, maxInsns - n, 0);
            inBlock = false;
            n += k;
            this.icount += k;
            prev = this.xb;
            exit = this.xi;
            if (this.stop !== STOP_NONE) break;
            continue;
          }
        }
        prev = null;
        if (this.lop !== 0) materializeFlags(this);
        ins ??= this.fetch(cur);
        this.rip = ins.next;
        this.extra = 0;
        ins.exec(this, ins);
        const done = 1 + this.extra;
        n += done;
        this.icount += done;
        probe = ins.brk ?? blockBoundary(ins);
        if (this.stop !== STOP_NONE) break;
      }
    } catch (e) {
      // Faults are restartable: rip points at the faulting instruction.
      let retired: number;
      if (inBlock) {
        retired = this.jn;
        cur = this.rip; // set by the block's catch handler
      } else {
        this.rip = cur;
        retired = this.extra;
      }
      n += retired;
      this.icount += retired;
      if (this.lop !== 0) materializeFlags(this);
      if (e instanceof CpuFault) {
        if (e.rip === -1n) e.rip = fromLinear(cur);
        e.cpu = this.index;
      }
      throw e;
    }
    if (this.lop !== 0) materializeFlags(this);
    return n;
  }

  /** Execute exactly one instruction. */
  step(): void {
    this.run(1);
  }

  /** A short description for diagnostics. */
  toString(): string {
    const regs = GPR_NAMES.map((n) => `${n}=${hex(this.getReg(n))}`).join(" ");
    return `cpu${this.index} rip=${hex(this.rip)} rflags=0x${this.rflags.toString(16)} ${regs}`;
  }
}
