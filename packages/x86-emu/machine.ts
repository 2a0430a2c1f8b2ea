/**
 * A multi-CPU machine: shared memory, Xen-style per-CPU stacks, the SysV call helper, host
 * functions, simulated time, interrupts/IPIs, a deterministic scheduler and strict
 * cross-modifying-code (XMC) checking.
 *
 * @module
 */

import { Mnemonic } from "iced-x86";
import { CpuFault } from "./faults.ts";
import { fromLinear, hex, linearFromHalves, toLinear } from "./address.ts";
import { type MappedRegion, Memory, PERM_RW, PERM_RX, PERM_X } from "./memory.ts";
import { Cpu, STOP_HALT, STOP_PAUSE, STOP_RETURN } from "./cpu.ts";
import { CpuModel, type CpuModelOptions } from "./cpu_model.ts";
import { IMPL_YES, type Insn } from "./decoder.ts";
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

  /** @param options CPU count, model, stacks, clock, XMC mode. */
  constructor(options: MachineOptions = {}) {
    const n = options.cpus ?? 4;
    this.model = new CpuModel(options.model);
    this.clockHz = options.clockHz ?? 2e9;
    this.cyclesPerInstruction = options.cyclesPerInstruction ?? 1;
    this.xmc = options.xmc ?? "coherent";
    this.#perCpu = options.perCpuAreaSize ?? 0x200;
    this.#stackBase = toLinear(options.stackBase ?? DEFAULT_STACK_BASE);
    if (this.#stackBase % XEN_STACK_SIZE !== 0) {
      throw new RangeError("Cannot place stacks: the base must be 32 KiB aligned");
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
    if (this.#hostSlots >= 256) throw new RangeError("Cannot install more than 255 host functions");
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
    address: bigint,
    args: readonly (bigint | number)[] = [],
    options: CallOptions = {},
  ): bigint {
    const c = this.#cpu(cpu);
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
    address: bigint,
    args: readonly (bigint | number)[] = [],
    options: CallOptions = {},
  ): Task {
    const c = this.#cpu(cpu);
    if (this.#tasks[cpu] && !this.#tasks[cpu]!.done) {
      throw new RangeError(`Cannot start a task on cpu${cpu}: it is busy`);
    }
    this.#prepareCall(c, address, args, options.rsp);
    const t: Task = { cpu, address, done: false, budget: options.budget ?? 10_000_000 };
    this.#tasks[cpu] = t;
    return t;
  }

  /**
   * Run all started tasks, interleaving CPUs in seeded quanta, until every task has returned
   * or faulted. Pending interrupts are delivered at slice boundaries when IF is set.
   *
   * @param options Seed, quantum, jitter, global budget.
   * @returns The tasks.
   */
  runAll(options: RunAllOptions = {}): Task[] {
    const sched = new Scheduler(options);
    let budget = options.budget ?? 100_000_000;
    const live = () =>
      this.#tasks.filter((t): t is Task => t !== undefined && !t.done).map((t) => t.cpu)
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

  /** Backtrace of a CPU from its exact call chain: rip, then return addresses. */
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
    if (c === undefined) throw new RangeError(`No cpu${k} (machine has ${this.cpus.length})`);
    return c;
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
