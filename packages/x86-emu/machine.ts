/**
 * A multi-CPU machine: shared memory, Xen-style per-CPU stacks, the SysV call helper, host
 * functions, simulated time, interrupts/IPIs, a deterministic scheduler and strict
 * cross-modifying-code (XMC) checking.
 *
 * @module
 */

import { Mnemonic } from "iced-x86";
import { CpuFault, EmuError } from "./faults.ts";
import { fromLinear, hex, linearFromHalves, toLinear } from "./address.ts";
import { type MappedRegion, Memory, PERM_RW, PERM_RX, PERM_X } from "./memory.ts";
import { Cpu, STOP_HALT, STOP_HOST, STOP_PAUSE, STOP_RETURN } from "./cpu.ts";
import { CpuModel, type CpuModelOptions } from "./cpu_model.ts";
import { decodeBytes, IMPL_YES, type Insn } from "./decoder.ts";
import { pop, push } from "./interp.ts";
import { Scheduler, type SchedulerOptions } from "./scheduler.ts";
import type { JitOptions } from "./jit.ts";
import { scanStack, type TextRange } from "./stack.ts";

/** Xen's STACK_SIZE: 8 pages, and stacks are aligned to it (`rsp | 0x7fff` finds the top). */
export const XEN_STACK_SIZE = 0x8000;
/** Default base of the per-CPU stacks (Xen's directmap region); stack i at base + i * 0x10000. */
export const DEFAULT_STACK_BASE = 0xffff830000000000n;
/** Page holding host traps (return trap, host functions). */
export const HOST_TRAP_BASE = 0xffffffffffe00000n;

/**
 * Symbol lookup by name and by address, as `@lpkit/elf`'s `SymbolIndex` provides it (Xen's
 * naming: `file.c#name` for local symbols, `%pS`-style `name+0xoff/0xsize` formatting).
 */
export interface SymbolLookup {
  /** The symbol Xen knows by `name` (a global by its name, a local as `file#name`). */
  byName(name: string): { value: bigint } | undefined;
  /** `name+0xoff/0xsize`, or bare hex when no symbol holds `address`. */
  format(address: bigint): string;
}

/** Where a call or hook goes: an address, or a symbol name resolved through `symbols`. */
export type Target = bigint | string;

/**
 * What a {@linkcode Machine.hook} callback asks for: run the hooked instruction as usual
 * (`"continue"`, also the meaning of returning nothing), stop the CPU at the hooked address
 * (`"stop"`: `Cpu.run` returns with `stop` = `STOP_HOST`, and the hook runs again when the CPU
 * resumes), or return from the function at once (`"return"`, optionally with a value for rax).
 */
export type HookAction = "continue" | "stop" | "return" | { return: bigint | number };

/** A host hook: runs when a CPU reaches the hooked address, before the instruction there. */
export type HookFunction = (cpu: Cpu) => HookAction | void;

/** Options of {@linkcode Machine}. */
export interface MachineOptions {
  /** Number of CPUs (default 4). */
  cpus?: number;
  /** CPU model options (vendor ...). */
  model?: CpuModelOptions;
  /** Bytes reserved at the top of each stack for the per-CPU area (default 0x200). */
  perCpuAreaSize?: number;
  /** Base of the stacks (default {@linkcode DEFAULT_STACK_BASE}). */
  stackBase?: bigint;
  /** Simulated clock in Hz (default 2 GHz). */
  clockHz?: number;
  /** Cycles charged per retired instruction (default 1). */
  cyclesPerInstruction?: number;
  /**
   * Cross-modifying code: `"coherent"` (default; writes are seen at once by every CPU) or
   * `"strict"` (CPUs other than the writer keep executing the stale decoded bytes until they
   * pass a serializing instruction; each such execution is recorded as a hazard).
   */
  xmc?: "coherent" | "strict";
  /**
   * Block compiler (`jit.ts`): on by default; `false` interprets every instruction, options set
   * the hotness threshold and the trace length. Results are identical either way.
   */
  jit?: boolean | JitOptions;
  /** Symbols for string targets and symbolized backtraces (e.g. `parseElf(b).symbolIndex()`). */
  symbols?: SymbolLookup;
}

/** Options of {@linkcode Machine.call}. */
export interface CallOptions {
  /** Instruction budget (default 10,000,000); exceeding it raises a `BUDGET` fault. */
  budget?: number;
  /** Stack pointer to start from (default: just below the CPU's per-CPU area). */
  rsp?: bigint;
}

/** A host function: receives the CPU (arguments in rdi, rsi, ...), returns rax. */
export type HostFunction = (cpu: Cpu) => bigint | number | void;

/** A stale-code execution detected in strict XMC mode. */
export interface XmcHazard {
  /** CPU that executed stale bytes. */
  cpu: number;
  /** Address of the stale instruction. */
  address: bigint;
  /** The stale bytes it executed. */
  stale: Uint8Array;
  /** The bytes now in memory. */
  current: Uint8Array;
  /** Simulated time of the event (ns, CPU clock). */
  timeNs: number;
}

/** A task started on a CPU by {@linkcode Machine.start}. */
export interface Task {
  /** CPU index. */
  cpu: number;
  /** Function address. */
  address: bigint;
  /** Done (returned or faulted). */
  done: boolean;
  /** rax on return. */
  result?: bigint;
  /** The fault that ended it. */
  fault?: CpuFault;
  /** Remaining budget. */
  budget: number;
  /** Stopped by a host hook; {@linkcode Machine.resume} lets it run again. */
  stopped: boolean;
}

/** Options of {@linkcode Machine.runAll}. */
export interface RunAllOptions extends SchedulerOptions {
  /** Stop after this many instructions in total (default 100,000,000). */
  budget?: number;
}

/**
 * The machine.
 *
 * @example Call a function with the SysV ABI
 * ```ts
 * import { Machine, PERM_RX } from "@lpkit/x86-emu";
 * import assert from "node:assert/strict";
 * const m = new Machine({ cpus: 2 });
 * // lea rax, [rdi + rsi]; ret
 * m.map({ address: 0x401000n, data: new Uint8Array([0x48, 0x8d, 0x04, 0x37, 0xc3]), size: 5, perms: PERM_RX });
 * assert.equal(m.call(1, 0x401000n, [40n, 2n]), 42n);
 * ```
 */
export class Machine {
  /** Shared guest memory. */
  readonly memory: Memory = new Memory();
  /** The CPUs. */
  readonly cpus: Cpu[] = [];
  /** CPU model. */
  readonly model: CpuModel;
  /** Executable ranges, for conservative stack scans. */
  readonly textRanges: TextRange[] = [];
  /** XMC hazards seen in strict mode. */
  readonly hazards: XmcHazard[] = [];
  /** Simulated clock (Hz). */
  readonly clockHz: number;
  /** Cycles per instruction. */
  readonly cyclesPerInstruction: number;
  /** XMC mode. */
  readonly xmc: "coherent" | "strict";
  /** Interrupt handler addresses by vector (guest delivery through an interrupt frame). */
  readonly interruptHandlers: Map<number, bigint> = new Map();
  /** Host interrupt hook: return true when the host handled the vector itself. */
  onInterrupt: ((cpu: Cpu, vector: number) => boolean) | undefined = undefined;
  /** Symbols for string targets and backtraces. */
  symbols: SymbolLookup | undefined;
  /** Port I/O hook (`in`/`out`); without it port I/O raises `IO`. */
  onIo: ((cpu: Cpu, port: number, size: number, value: number | undefined) => number) | undefined =
    undefined;
  readonly #perCpu: number;
  readonly #stackBase: number;
  readonly #pending: number[][] = [];
  readonly #tasks: (Task | undefined)[] = [];
  #hostSlots = 1;
  #running = -1;
  readonly #returnTrap: number;

  /**
   * A machine with its CPUs, their stacks mapped, and the host trap page.
   *
   * @param options CPU count, model, stacks, clock, XMC mode, block compiler, symbols.
   */
  constructor(options: MachineOptions = {}) {
    const n = options.cpus ?? 4;
    if (!Number.isInteger(n) || n < 1 || n > 256) {
      throw new EmuError("BAD_OPTION", `Cannot build a machine with ${n} CPUs (1..256)`);
    }
    this.symbols = options.symbols;
    this.model = new CpuModel(options.model);
    this.clockHz = options.clockHz ?? 2e9;
    this.cyclesPerInstruction = options.cyclesPerInstruction ?? 1;
    this.xmc = options.xmc ?? "coherent";
    this.#perCpu = options.perCpuAreaSize ?? 0x200;
    this.#stackBase = toLinear(options.stackBase ?? DEFAULT_STACK_BASE);
    if (this.#stackBase % XEN_STACK_SIZE !== 0) {
      throw new EmuError("BAD_OPTION", "Cannot place stacks: the base must be 32 KiB aligned");
    }
    const hooks = {
      tsc: (c: Cpu) => BigInt(Math.floor(c.icount * this.cyclesPerInstruction)),
      serialize: (c: Cpu) => {
        c.stale = null;
      },
      staleExecution: (c: Cpu, i: Insn) => this.#staleExec(c, i),
      io: (c: Cpu, port: number, size: number, value: number | undefined) => {
        if (!this.onIo) {
          throw new CpuFault("IO", `Port I/O to 0x${port.toString(16)} without a handler`);
        }
        return this.onIo(c, port, size, value);
      },
    };
    for (let k = 0; k < n; k++) {
      const c = new Cpu(this.memory, {
        index: k,
        model: this.model,
        hooks,
        jit: options.jit ?? true,
      });
      this.cpus.push(c);
      this.#pending.push([]);
      const base = this.#stackBase + k * 2 * XEN_STACK_SIZE; // unmapped guard gap between stacks
      this.memory.map(fromLinear(base), XEN_STACK_SIZE, PERM_RW);
      c.setRspLinear(this.#initialRsp(k));
    }
    this.memory.map(HOST_TRAP_BASE, 4096, PERM_RX);
    this.memory.write(HOST_TRAP_BASE, new Uint8Array(4096).fill(0xcc));
    this.#returnTrap = toLinear(HOST_TRAP_BASE);
    this.#pin(this.#returnTrap, (c, i) => {
      c.stop = STOP_RETURN;
      c.rip = i.ip;
      c.extra = -1; // the trap is not a guest instruction: it retires nothing
    });
    this.memory.onCodeWrite = (_a, _n, stale) => this.#codeWritten(stale);
  }

  /** Address of the top of CPU `cpu`'s stack (32 KiB aligned end; `rsp | 0x7fff` + 1). */
  stackTop(cpu: number): bigint {
    return fromLinear(this.#stackBase + cpu * 2 * XEN_STACK_SIZE + XEN_STACK_SIZE);
  }

  /** The per-CPU area at the top of CPU `cpu`'s stack: [start, stackTop). */
  perCpuArea(cpu: number): { start: bigint; end: bigint } {
    const end = this.stackTop(cpu);
    return { start: end - BigInt(this.#perCpu), end };
  }

  #initialRsp(cpu: number): number {
    return this.#stackBase + cpu * 2 * XEN_STACK_SIZE + XEN_STACK_SIZE - this.#perCpu;
  }

  /**
   * Map a region (ELF section, payload region). Executable regions are added to `textRanges`.
   *
   * @param region Address, data, size, permissions.
   */
  map(region: MappedRegion): void {
    this.memory.mapRegion(region);
    if (region.perms & PERM_X) {
      const start = toLinear(region.address);
      this.textRanges.push({ start, end: start + region.size });
    }
  }

  #pin(a: number, exec: (c: Cpu, i: Insn) => void): void {
    this.#pinRecord(a, exec);
  }

  #pinRecord(a: number, exec: (c: Cpu, i: Insn) => void): Insn {
    const p = this.memory.page(a)!;
    const rec: Insn = {
      ip: a,
      len: 1,
      next: a + 1,
      code: 0,
      mnemonic: Mnemonic.Int3,
      flow: 0,
      cc: 0,
      bytes: new Uint8Array([0xcc]),
      ops: [],
      mem: null,
      target: NaN,
      lock: false,
      rep: false,
      repne: false,
      segPrefix: -1,
      privileged: false,
      impl: IMPL_YES,
      exec,
      pinned: true,
    };
    (p.code ??= new Array(4096))[a - p.number * 4096] = rec;
    this.memory.noteCode(p);
    return rec;
  }

  /**
   * Install a host function and return its guest address. A guest `call` to it runs `fn` and
   * returns to the caller with rax set to its result (e.g. a `cmp` callback for Xen's `sort`,
   * or a stub for `printk`).
   *
   * @param fn The host function.
   * @returns Its address.
   */
  hostFunction(fn: HostFunction): bigint {
    if (this.#hostSlots >= 256) {
      throw new EmuError("LIMIT", "Cannot install more than 255 host functions");
    }
    const a = this.#returnTrap + 16 * this.#hostSlots++;
    this.#pin(a, (c) => {
      const r = fn(c);
      if (r !== undefined) c.setReg("rax", BigInt(r));
      const slot = linearFromHalves(c.lo[4]!, c.hi[4]!);
      const lo = pop(c, 8);
      const t = linearFromHalves(lo, c.th);
      if (Number.isNaN(t)) throw new CpuFault("GP", "Non-canonical return address");
      c.rip = t;
      c.calls.onReturn(slot, t);
    });
    return fromLinear(a);
  }

  #prepareCall(c: Cpu, address: bigint, args: readonly (bigint | number)[], rsp?: bigint): void {
    const regs = ["rdi", "rsi", "rdx", "rcx", "r8", "r9"] as const;
    let sp = rsp !== undefined ? toLinear(rsp) : this.#initialRsp(c.index);
    sp -= sp % 16 === 0 ? 0 : ((sp % 16) + 16) % 16;
    const stackArgs = args.slice(6);
    if (stackArgs.length % 2 === 1) sp -= 8; // keep rsp+8 16-byte aligned at entry
    c.setRspLinear(sp);
    for (let k = stackArgs.length - 1; k >= 0; k--) {
      const v = BigInt.asUintN(64, BigInt(stackArgs[k]!));
      push(c, 8, Number(v & 0xffffffffn), Number(v >> 32n));
    }
    push(c, 8, this.#returnTrap >>> 0, Math.floor(this.#returnTrap / 4294967296) >>> 0);
    args.slice(0, 6).forEach((v, k) => c.setReg(regs[k]!, BigInt(v)));
    c.setRip(address);
    c.calls.reset();
    c.calls.onCall(this.#returnTrap, c.rip, this.#returnTrap, c.rspLinear());
    c.halted = false;
  }

  /**
   * Call a function on one CPU following the SysV ABI (integer arguments in rdi, rsi, rdx, rcx,
   * r8, r9, then on the stack) and return rax. Other CPUs do not run meanwhile.
   *
   * @param cpu CPU index.
   * @param address Function address.
   * @param args Integer arguments.
   * @param options Budget and stack.
   * @returns rax.
   * @throws {CpuFault} on any fault, `BUDGET` when the budget runs out, `HLT` on `hlt`.
   */
  call(
    cpu: number,
    target: Target,
    args: readonly (bigint | number)[] = [],
    options: CallOptions = {},
  ): bigint {
    const c = this.#cpu(cpu);
    const address = this.resolve(target);
    this.#prepareCall(c, address, args, options.rsp);
    let budget = options.budget ?? 10_000_000;
    const prev = this.#running;
    this.#running = cpu;
    try {
      while (true) {
        if (budget <= 0) {
          throw new CpuFault("BUDGET", `Instruction budget exhausted at ${hex(c.rip)}`, {
            rip: c.getRip(),
            cpu,
          });
        }
        budget -= c.run(Math.min(budget, 1_000_000));
        if (c.stop === STOP_RETURN) return c.getReg("rax");
        if (c.stop === STOP_HALT) {
          throw new CpuFault("HLT", `hlt at ${hex(c.rip - 1)}`, { rip: c.getRip() - 1n, cpu });
        }
        if (c.stop === STOP_HOST) {
          throw new CpuFault(
            "STOPPED",
            `A host hook stopped cpu${cpu} at ${this.symbolize(c.getRip())}`,
            {
              rip: c.getRip(),
              cpu,
            },
          );
        }
      }
    } finally {
      this.#running = prev;
    }
  }

  /**
   * Start a call on a CPU without running it; {@linkcode runAll} interleaves all started tasks.
   *
   * @param cpu CPU index.
   * @param address Function address.
   * @param args Integer arguments.
   * @param options Budget and stack.
   * @returns The task (filled in when it finishes).
   */
  start(
    cpu: number,
    target: Target,
    args: readonly (bigint | number)[] = [],
    options: CallOptions = {},
  ): Task {
    const c = this.#cpu(cpu);
    if (this.#tasks[cpu] && !this.#tasks[cpu]!.done) {
      throw new EmuError("CPU_BUSY", `Cannot start a task on cpu${cpu}: it is busy`, `cpu${cpu}`);
    }
    const address = this.resolve(target);
    this.#prepareCall(c, address, args, options.rsp);
    const t: Task = {
      cpu,
      address,
      done: false,
      budget: options.budget ?? 10_000_000,
      stopped: false,
    };
    this.#tasks[cpu] = t;
    return t;
  }

  /**
   * Let a task stopped by a hook run again in the next {@linkcode runAll} (its hook runs again
   * first, and decides anew).
   *
   * @param cpu CPU index.
   */
  resume(cpu: number): void {
    this.#cpu(cpu);
    const t = this.#tasks[cpu];
    if (t !== undefined) t.stopped = false;
  }

  /**
   * Run all started tasks, interleaving CPUs in seeded quanta, until every task has returned,
   * faulted or been stopped by a hook. Pending interrupts are delivered at slice boundaries when
   * IF is set.
   *
   * @param options Seed, quantum, jitter, global budget.
   * @returns The tasks.
   */
  runAll(options: RunAllOptions = {}): Task[] {
    const sched = new Scheduler(options);
    let budget = options.budget ?? 100_000_000;
    const live = () =>
      this.#tasks.filter((t): t is Task => t !== undefined && !t.done && !t.stopped)
        .map((t) => t.cpu)
        .filter((k) => !this.cpus[k]!.halted || this.#pending[k]!.length > 0);
    for (const c of this.cpus) c.yieldOnPause = true;
    try {
      while (budget > 0) {
        const runnable = live();
        if (runnable.length === 0) break;
        const { cpu, quantum } = sched.pick(runnable);
        const c = this.cpus[cpu]!;
        const t = this.#tasks[cpu]!;
        this.#deliver(c);
        if (c.halted) continue;
        this.#running = cpu;
        try {
          const n = c.run(Math.min(quantum, t.budget, budget));
          t.budget -= n;
          budget -= n;
          if (c.stop === STOP_RETURN) {
            t.done = true;
            t.result = c.getReg("rax");
          } else if (t.budget <= 0) {
            t.done = true;
            t.fault = new CpuFault("BUDGET", `Task budget exhausted at ${hex(c.rip)}`, { cpu });
          } else if (c.stop === STOP_HOST) {
            t.stopped = true; // until resume()
          } else if (c.stop === STOP_PAUSE) {
            // spin-loop hint: switch CPU
          }
        } catch (e) {
          if (!(e instanceof CpuFault)) throw e;
          t.done = true;
          t.fault = e;
        } finally {
          this.#running = -1;
        }
      }
    } finally {
      for (const c of this.cpus) c.yieldOnPause = false;
    }
    return this.#tasks.filter((t): t is Task => t !== undefined);
  }

  /**
   * Queue an interrupt (e.g. an IPI) for a CPU. It is delivered when the CPU's IF is set, at a
   * slice boundary of {@linkcode runAll}: first to `onInterrupt`, else through an interrupt frame
   * to `interruptHandlers.get(vector)`.
   *
   * @param cpu Target CPU.
   * @param vector Vector number.
   */
  sendInterrupt(cpu: number, vector: number): void {
    this.#cpu(cpu);
    this.#pending[cpu]!.push(vector);
  }

  #deliver(c: Cpu): void {
    const q = this.#pending[c.index]!;
    while (q.length > 0 && (c.flagsOther & 0x200) !== 0) {
      const v = q.shift()!;
      c.halted = false;
      if (this.onInterrupt?.(c, v)) continue;
      const h = this.interruptHandlers.get(v);
      if (h === undefined) {
        throw new CpuFault("GP", `No handler for interrupt vector ${v} on cpu${c.index}`);
      }
      // 64-bit interrupt frame: align rsp to 16, push ss, rsp, rflags, cs, rip.
      const oldLo = c.lo[4]!, oldHi = c.hi[4]!;
      const sp = c.rspLinear();
      c.setRspLinear(sp - (((sp % 16) + 16) % 16));
      push(c, 8, c.segs[2]!, 0);
      push(c, 8, oldLo, oldHi);
      push(c, 8, c.rflags, 0);
      push(c, 8, c.segs[1]!, 0);
      push(c, 8, c.rip >>> 0, Math.floor(c.rip / 4294967296) >>> 0);
      c.calls.onInterrupt(c.rip, toLinear(h), c.rspLinear());
      c.flagsOther &= ~0x200;
      c.setRip(h);
      c.stale = null; // interrupt delivery is serializing
    }
  }

  /** Simulated time of a CPU in nanoseconds. */
  timeNs(cpu: number): number {
    return this.#cpu(cpu).icount * this.cyclesPerInstruction / this.clockHz * 1e9;
  }

  /** Machine time: the furthest CPU clock, in nanoseconds. */
  nowNs(): number {
    return Math.max(...this.cpus.map((c) => this.timeNs(c.index)));
  }

  /** Backtrace of a CPU from its exact call chain: rip, then return addresses, innermost first. */
  backtrace(cpu: number): bigint[] {
    const c = this.#cpu(cpu);
    return c.calls.backtrace(c.rip).filter((a) => a !== this.#returnTrap).map(fromLinear);
  }

  /** Conservative scan of a CPU's stack for words pointing into mapped text. */
  scanStack(cpu: number): { slot: bigint; address: bigint }[] {
    const c = this.#cpu(cpu);
    const top = toLinear(this.stackTop(cpu));
    const read = (a: number) => {
      const lo = this.memory.rd64(a);
      return linearFromHalves(lo, this.memory.hi);
    };
    return scanStack(read, c.rspLinear(), top, this.textRanges).map((h) => ({
      slot: fromLinear(h.slot),
      address: fromLinear(h.address),
    }));
  }

  #cpu(k: number): Cpu {
    const c = this.cpus[k];
    if (c === undefined) {
      throw new EmuError("NO_CPU", `No cpu${k}: the machine has ${this.cpus.length}`, `cpu${k}`);
    }
    return c;
  }

  /**
   * The address of a target: a bigint as it is, a string through {@linkcode symbols}.
   *
   * @throws {EmuError} `NO_SYMBOLS` without a symbol table, `UNKNOWN_SYMBOL` for an unknown name.
   */
  resolve(target: Target): bigint {
    if (typeof target === "bigint") return BigInt.asUintN(64, target);
    if (this.symbols === undefined) {
      throw new EmuError(
        "NO_SYMBOLS",
        `Cannot resolve "${target}": the machine has no symbols`,
        target,
      );
    }
    const s = this.symbols.byName(target);
    if (s === undefined) throw new EmuError("UNKNOWN_SYMBOL", `Unknown symbol "${target}"`, target);
    return s.value;
  }

  /** `name+0xoff/0xsize` for an address (Xen's `%pS`), or hex without symbols. */
  symbolize(address: bigint): string {
    const a = BigInt.asUintN(64, address);
    if (a === fromLinear(this.#returnTrap)) return "<host return>";
    if (a > fromLinear(this.#returnTrap) && a < fromLinear(this.#returnTrap) + 4096n) {
      return `<host function ${(a - fromLinear(this.#returnTrap)) / 16n}>`;
    }
    return this.symbols?.format(a) ?? `0x${a.toString(16)}`;
  }

  /**
   * Symbolized backtrace of a CPU from its exact call chain, innermost first:
   * `common/kernel.c#do_xen_version+0x12/0x91f` style entries (see {@linkcode symbolize}).
   */
  backtraceSymbols(cpu: number): string[] {
    return this.backtrace(cpu).map((a) => this.symbolize(a));
  }

  /**
   * Run `fn` whenever a CPU reaches `target` (an instruction boundary in mapped code), before the
   * instruction there executes; `fn` decides what happens next (see {@linkcode HookAction}).
   * The guest bytes are untouched (stack scans and disassembly see the real code), writes to
   * them are honoured, and compiled code stops at the address. E.g. the host can intercept
   * `check_for_livepatch_work` in the idle loop.
   *
   * @param target Address or symbol.
   * @param fn The hook.
   * @returns A function removing the hook.
   * @throws {EmuError} `UNMAPPED` when the address is not in mapped memory.
   *
   * @example Make a function return 7 without running it
   * ```ts
   * import { Machine, PERM_RX } from "@lpkit/x86-emu";
   * import assert from "node:assert/strict";
   * const m = new Machine({ cpus: 1 });
   * // mov eax, 1; ret
   * m.map({ address: 0x1000n, data: new Uint8Array([0xb8, 1, 0, 0, 0, 0xc3]), size: 6, perms: PERM_RX });
   * const unhook = m.hook(0x1000n, () => ({ return: 7n }));
   * assert.equal(m.call(0, 0x1000n), 7n);
   * unhook();
   * assert.equal(m.call(0, 0x1000n), 1n);
   * ```
   */
  hook(target: Target, fn: HookFunction): () => void {
    const address = this.resolve(target);
    const a = toLinear(address);
    const p = this.memory.page(a);
    if (p === undefined) {
      throw new EmuError("UNMAPPED", `Cannot hook ${this.symbolize(address)}: not mapped`, hex(a));
    }
    let orig: Insn | undefined;
    const mem = this.memory;
    const model = this.model;
    const original = (): Insn => {
      // The record of the bytes now at the address (re-decoded when they changed).
      if (orig !== undefined) {
        let same = true;
        for (let k = 0; k < orig.len && same; k++) {
          const q = mem.page(a + k);
          same = q !== undefined && q.data[a + k - q.number * 4096] === orig.bytes[k];
        }
        if (same) return orig;
      }
      const q = mem.page(a)!;
      if ((q.perm & PERM_X) === 0) mem.fault(a, "execute");
      let bytes: Uint8Array;
      try {
        bytes = mem.read(address, 15);
      } catch {
        bytes = mem.read(address, 4096 - (a - q.number * 4096));
      }
      orig = decodeBytes(bytes, address, model.decoderOptions);
      return orig;
    };
    const rec = this.#pinRecord(a, (c) => {
      c.rip = a;
      const r = fn(c);
      if (r === undefined || r === "continue") {
        const o = original();
        c.rip = o.next;
        o.exec(c, o);
        return;
      }
      if (r === "stop") {
        c.stop = STOP_HOST;
        return;
      }
      if (typeof r === "object") c.setReg("rax", BigInt(r.return));
      const slot = c.rspLinear();
      const lo = pop(c, 8);
      const t = linearFromHalves(lo, c.th);
      if (Number.isNaN(t)) throw new CpuFault("GP", "Non-canonical return address");
      c.rip = t;
      c.calls.onReturn(slot, t);
    });
    this.memory.invalidate(address, 1);
    return () => {
      const q = this.memory.page(a);
      const off = a - (q?.number ?? 0) * 4096;
      if (q?.code?.[off] === rec) q.code[off] = undefined;
      this.memory.invalidate(address, 1);
    };
  }

  #codeWritten(stale: Insn[]): void {
    if (this.xmc !== "strict") return;
    for (const c of this.cpus) {
      if (c.index === this.#running) continue; // the writer sees its own stores
      const m = c.stale ??= new Map();
      for (const r of stale) if (!m.has(r.ip)) m.set(r.ip, r);
    }
  }

  #staleExec(c: Cpu, i: Insn): void {
    let cur: Uint8Array;
    try {
      cur = this.memory.read(fromLinear(i.ip), i.len);
    } catch {
      cur = new Uint8Array(0);
    }
    if (cur.length === i.len && cur.every((b, k) => b === i.bytes[k])) return;
    this.hazards.push({
      cpu: c.index,
      address: fromLinear(i.ip),
      stale: i.bytes,
      current: cur,
      timeNs: this.timeNs(c.index),
    });
  }
}

/** Re-exported for convenience. */
export { PERM_RW, PERM_RX };
