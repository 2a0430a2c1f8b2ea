/**
 * The host's physical CPUs: emulated x86-64 CPUs that sit in the
 * hypervisor's idle loop, run work injected by the host, and share one
 * simulated clock. Deterministic: the same calls in the same order give the
 * same instruction streams and times.
 *
 * Time model: the host advances time in rounds; in each round every CPU
 * that is running executes one quantum, while halted CPUs (in `hlt`) and
 * CPUs parked by the host (spinning in the rendezvous) just let the time
 * pass. `nowNs` is Xen's `NOW()`.
 *
 * @module
 */
import {
  type Cpu,
  CpuFault,
  fromLinear,
  type Machine,
  scanStack as scanStackWords,
  type TextRange,
  toLinear,
} from "@lpkit/x86-emu";

const STOP_RETURN = 1;
const STOP_HALT = 2;
const STOP_HOST = 4;
const GPRS = 16;

/** A CPU state the host can restore exactly. */
interface Snapshot {
  lo: Uint32Array;
  hi: Uint32Array;
  rip: number;
  rflags: number;
  halted: boolean;
  frames: Cpu["calls"]["frames"];
}

function snapshot(c: Cpu): Snapshot {
  return {
    lo: c.lo.slice(),
    hi: c.hi.slice(),
    rip: c.rip,
    rflags: c.rflags,
    halted: c.halted,
    frames: c.calls.frames.map((f) => ({ ...f })),
  };
}

function restore(c: Cpu, s: Snapshot, keepRsp = false): void {
  const lo4 = c.lo[4], hi4 = c.hi[4];
  c.lo.set(s.lo);
  c.hi.set(s.hi);
  if (keepRsp) {
    c.lo[4] = lo4;
    c.hi[4] = hi4;
  }
  c.rip = s.rip;
  c.rflags = s.rflags;
  c.halted = s.halted;
  c.calls.frames.length = 0;
  c.calls.frames.push(...s.frames.map((f) => ({ ...f })));
}

/** What a CPU is doing, as `lpkit cpus` shows it. */
export type CpuActivity =
  /** In the idle loop, halted until woken. */
  | "idle"
  /** Executing (idle loop, tasklets, softirqs). */
  | "running"
  /** Executing work the host started on it (see {@linkcode HostCpus.startTask}). */
  | "busy"
  /** Held by the host in the live-patch rendezvous. */
  | "parked";

/** A function the host runs on a CPU in the background, e.g. a long hypercall. */
export interface Task {
  /** Sequence number. */
  readonly id: number;
  /** CPU it runs on. */
  readonly cpu: number;
  /** Function address. */
  readonly address: bigint;
  /** Description for status output. */
  readonly label: string;
  /** Set once it returned. */
  done: boolean;
  /** rax on return. */
  result?: bigint;
  /** Simulated time it started and ended (ns). */
  startedNs?: number;
  endedNs?: number;
}

/**
 * What a fault the hypervisor handles (an exception-table fixup, a WARN, a
 * `run_fn` bug frame) costs, in instructions of budget and of simulated time:
 * exception delivery, Xen's handler and the return take on the order of a
 * thousand cycles on real hardware. It also bounds a fixup that faults again
 * forever (a broken `.ex_table`) to a thousand traps per million instructions
 * of budget.
 *
 * @example
 * ```ts
 * import { TRAP_COST } from "@lpkit/livepatch-core";
 * import assert from "node:assert/strict";
 * assert.equal(TRAP_COST, 1000);
 * ```
 */
export const TRAP_COST = 1000;

/** How the host treats a CPU fault it cannot recover from.
 *
 * @example
 * ```ts
 * import { HypervisorCrash } from "@lpkit/livepatch-core";
 * import { CpuFault } from "@lpkit/x86-emu";
 * import assert from "node:assert/strict";
 * const crash = new HypervisorCrash(1, new CpuFault("UD2", "ud2"), ["f+0x4/0x10"], "while running");
 * assert.equal(crash.code, "CRASHED");
 * assert.match(crash.message, /CPU1 while running: ud2 \[UD2\] at f\+0x4\/0x10/);
 * ```
 */
export class HypervisorCrash extends Error {
  /** Stable code. */
  readonly code = "CRASHED";
  /** The fault. */
  readonly fault: CpuFault;
  /** The CPU that faulted. */
  readonly cpu: number;
  /** Symbolized backtrace at the fault, innermost first. */
  readonly backtrace: readonly string[];

  constructor(cpu: number, fault: CpuFault, backtrace: readonly string[], what: string) {
    super(
      `hypervisor crash on CPU${cpu} ${what}: ${fault.message} [${fault.code}]` +
        (backtrace.length > 0 ? ` at ${backtrace.join(" <- ")}` : ""),
    );
    this.name = "HypervisorCrash";
    this.fault = fault;
    this.cpu = cpu;
    this.backtrace = backtrace;
  }
}

/** A nested call ran out of instructions.
 *
 * @example
 * ```ts
 * import { BudgetExceeded } from "@lpkit/livepatch-core";
 * import assert from "node:assert/strict";
 * assert.equal(new BudgetExceeded("spins").code, "BUDGET");
 * ```
 */
export class BudgetExceeded extends Error {
  /** Stable code. */
  readonly code = "BUDGET";
  constructor(message: string) {
    super(message);
    this.name = "BudgetExceeded";
  }
}

/**
 * Recovers from a fault the way Xen's trap handlers would (an exception
 * table fixup, a WARN frame), by moving the CPU on; returns false when the
 * fault is fatal.
 */
export type FaultHandler = (cpu: Cpu, fault: CpuFault) => boolean;

/** Options of {@linkcode HostCpus}. */
export interface HostCpusOptions {
  /** Simulated clock in Hz (default 2 GHz). */
  readonly clockHz?: number;
  /** Instructions per round and CPU (default 10,000). */
  readonly quantum?: number;
  /** Symbolizes an address for diagnostics; `returnAddress` names the call site's function. */
  readonly symbolize?: (address: bigint, returnAddress?: boolean) => string;
  /** Recovers from faults (exception tables, bug frames). */
  readonly onFault?: FaultHandler;
}

/** One round's observer: the host evaluates the rendezvous between rounds. */
export type RoundObserver = () => void;

/**
 * The CPUs of a host and the simulated clock.
 *
 * @example
 * ```ts
 * import { HostCpus } from "@lpkit/livepatch-core";
 * import { Machine } from "@lpkit/x86-emu";
 * import assert from "node:assert/strict";
 * const cpus = new HostCpus(new Machine({ cpus: 2 }), { clockHz: 2e9 });
 * assert.equal(cpus.count, 2);
 * assert.equal(cpus.nsFor(2000), 1000); // one instruction per cycle at 2 GHz
 * ```
 */
export class HostCpus {
  /** The machine. */
  readonly machine: Machine;
  /** Xen's `NOW()`, in nanoseconds. */
  nowNs = 0;
  /** Simulated clock. */
  readonly clockHz: number;
  /** Instructions each running CPU executes per round. */
  readonly quantum: number;
  /** Called after every round of {@linkcode advance}. */
  onRound: RoundObserver | undefined = undefined;
  /** Set when a CPU faulted fatally; the host is dead from then on. */
  crash: HypervisorCrash | undefined = undefined;
  readonly #symbolize: (address: bigint, returnAddress?: boolean) => string;
  readonly #onFault: FaultHandler | undefined;
  /** Per CPU, the instructions charged for handled traps (TRAP_COST each), beside `Cpu.icount`. */
  readonly #trapCharge: number[] = [];
  readonly #parked: boolean[];
  readonly #stackTops: bigint[];
  readonly #queued: Task[][];
  readonly #current: (Task | undefined)[];
  readonly #taskReturn: bigint;
  readonly #callReturn: bigint;
  #callDone = false;
  #taskIds = 0;
  #rotate = 0;
  /** Instructions retired by all CPUs (for progress reports). */
  retired = 0;

  /**
   * @param machine The machine whose CPUs these are.
   * @param options Clock, quantum, diagnostics, fault recovery.
   */
  constructor(machine: Machine, options: HostCpusOptions = {}) {
    this.machine = machine;
    this.clockHz = options.clockHz ?? 2e9;
    this.quantum = options.quantum ?? 10_000;
    this.#symbolize = options.symbolize ?? ((a) => `0x${a.toString(16)}`);
    this.#onFault = options.onFault;
    const n = machine.cpus.length;
    this.#parked = new Array(n).fill(false);
    this.#stackTops = machine.cpus.map((_, k) => machine.stackTop(k));
    this.#queued = Array.from({ length: n }, () => []);
    this.#current = new Array(n).fill(undefined);
    this.#callReturn = machine.hostFunction((c) => {
      this.#callDone = true;
      c.stop = STOP_HOST;
    });
    this.#taskReturn = machine.hostFunction((c) => this.#taskReturned(c));
  }

  /** Number of CPUs. */
  get count(): number {
    return this.machine.cpus.length;
  }

  /** The CPU. */
  cpu(k: number): Cpu {
    const c = this.machine.cpus[k];
    if (c === undefined) throw new RangeError(`No CPU${k}: the host has ${this.count}`);
    return c;
  }

  /** Sets where CPU `k`'s stack ends (its `cpu_info` is just below), for scans. */
  setStackTop(k: number, top: bigint): void {
    this.cpu(k);
    this.#stackTops[k] = top;
  }

  /** End of CPU `k`'s stack. */
  stackTop(k: number): bigint {
    return this.#stackTops[k];
  }

  /** Nanoseconds that `instructions` take on one CPU. */
  nsFor(instructions: number): number {
    return instructions / this.clockHz * 1e9;
  }

  /** What CPU `k` is doing. */
  activity(k: number): CpuActivity {
    if (this.#parked[k]) return "parked";
    if (this.#current[k] !== undefined) return "busy";
    return this.cpu(k).halted ? "idle" : "running";
  }

  /** Whether CPU `k` is held by the host. */
  isParked(k: number): boolean {
    return this.#parked[k];
  }

  /** Holds CPU `k` where it is (the rendezvous spin): it runs no instructions until released. */
  park(k: number): void {
    this.#parked[k] = true;
  }

  /** Lets CPU `k` run again. */
  unpark(k: number): void {
    this.#parked[k] = false;
  }

  /** Wakes CPU `k` from `hlt`, as an IPI does. */
  wake(k: number): void {
    this.cpu(k).halted = false;
  }

  /** The task CPU `k` is running, if any. */
  currentTask(k: number): Task | undefined {
    return this.#current[k];
  }

  /** Every task started, queued or running, per CPU. */
  pendingTasks(): Task[] {
    return [
      ...this.#current.filter((t): t is Task => t !== undefined),
      ...this.#queued.flat(),
    ];
  }

  /**
   * Queues `address(args)` to run on CPU `k` as soon as it is idle or
   * running with interrupts enabled, like work arriving by interrupt. The
   * CPU's state is saved and restored around it.
   */
  startTask(k: number, address: bigint, args: readonly bigint[], label: string): Task {
    this.cpu(k);
    const task: Task = { id: ++this.#taskIds, cpu: k, address, label, done: false };
    this.#queued[k].push(task);
    (task as { args?: readonly bigint[] }).args = args;
    this.wake(k);
    return task;
  }

  #saved = new Map<number, Snapshot>();

  #injectTask(k: number): void {
    const c = this.cpu(k);
    const task = this.#queued[k].shift()!;
    this.#saved.set(k, snapshot(c));
    const args = (task as { args?: readonly bigint[] }).args ?? [];
    const sp0 = c.rspLinear() - 128;
    let sp = sp0 - (((sp0 % 16) + 16) % 16) - 8; // rsp ≡ 8 (mod 16) at entry
    const w = (v: bigint) => {
      sp -= 8;
      c.mem.writeU64(fromLinear(sp), v);
    };
    w(fromLinear(c.rip)); // saved rip, popped by the return trap
    const savedSlot = sp;
    w(this.#taskReturn);
    c.calls.onInterrupt(c.rip, toLinear(task.address), savedSlot);
    c.calls.onCall(c.rip, toLinear(task.address), toLinear(this.#taskReturn), sp);
    c.setRspLinear(sp);
    const regs = ["rdi", "rsi", "rdx", "rcx", "r8", "r9"] as const;
    args.slice(0, 6).forEach((v, i) => c.setReg(regs[i], v));
    c.setRip(task.address);
    c.halted = false;
    task.startedNs = this.nowNs;
    this.#current[k] = task;
  }

  #taskReturned(c: Cpu): void {
    const task = this.#current[c.index]!;
    task.result = c.getReg("rax");
    task.done = true;
    task.endedNs = this.nowNs;
    this.#current[c.index] = undefined;
    const saved = this.#saved.get(c.index)!;
    this.#saved.delete(c.index);
    // Registers as before the injection; the trap then pops the saved rip.
    restore(c, saved, true);
    c.halted = false; // like after an interrupt: the idle loop goes round again
  }

  /**
   * Runs `address(args)` on CPU `k` to completion, nested on its current
   * stack (below rsp), and restores the CPU exactly afterwards: hooks, the
   * `call` command, stubs. Other CPUs do not run meanwhile; the clock moves
   * by the instructions it took.
   *
   * @throws {HypervisorCrash} when the function faults fatally.
   * @throws {BudgetExceeded} when it does not return within `budget` instructions.
   */
  call(k: number, address: bigint, args: readonly bigint[] = [], budget = 50_000_000): bigint {
    this.#alive();
    const c = this.cpu(k);
    let entry: number;
    try {
      entry = toLinear(address);
    } catch (e) {
      // A non-canonical target: the CPU's #GP on the call itself.
      if (!(e instanceof CpuFault)) throw e;
      throw new HypervisorCrash(k, e, [], "in a host call");
    }
    const saved = snapshot(c);
    const stop = c.stop;
    let sp = c.rspLinear() - 128;
    sp -= ((sp % 16) + 16) % 16; // 16-aligned
    sp -= 8; // after two pushes rsp ≡ 8 (mod 16), as after a call
    const w = (v: bigint) => {
      sp -= 8;
      c.mem.writeU64(fromLinear(sp), v);
    };
    w(this.#callReturn); // popped by the trap; never used
    w(this.#callReturn);
    c.calls.onCall(toLinear(this.#callReturn), entry, toLinear(this.#callReturn), sp);
    c.setRspLinear(sp);
    const regs = ["rdi", "rsi", "rdx", "rcx", "r8", "r9"] as const;
    args.slice(0, 6).forEach((v, i) => c.setReg(regs[i], v));
    c.setRip(address);
    c.halted = false;
    const spent = () => c.icount + (this.#trapCharge[k] ?? 0);
    const start = spent();
    this.#callDone = false;
    try {
      while (!this.#callDone) {
        const used = spent() - start;
        if (used >= budget) {
          throw new BudgetExceeded(
            `${this.#symbolize(address)} did not return within ${budget} instructions ` +
              `(at ${this.#symbolize(c.getRip())})`,
          );
        }
        this.#step(c, Math.min(budget - used, 1_000_000), "in a host call");
        if (!this.#callDone && c.stop === STOP_HALT) {
          throw new HypervisorCrash(
            k,
            new CpuFault("HLT", "hlt inside a called function"),
            this.backtrace(k),
            "in a host call",
          );
        }
      }
      return c.getReg("rax");
    } finally {
      const used = spent() - start;
      this.retired += used;
      this.nowNs += this.nsFor(used);
      restore(c, saved);
      c.stop = stop;
    }
  }

  /** Runs `c` for up to `n` instructions, recovering from faults where Xen would. */
  #step(c: Cpu, n: number, what: string): number {
    let done = 0;
    while (done < n) {
      try {
        done += c.run(n - done);
        return done;
      } catch (caught) {
        if (!(caught instanceof CpuFault)) throw caught;
        let e = caught;
        let handled = false;
        try {
          handled = this.#onFault?.(c, e) ?? false;
        } catch (nested) {
          // A fault inside the trap handler (e.g. a BUG frame naming an unmapped file string):
          // on Xen a fault in the fault path, so the host goes down with the nested fault.
          if (!(nested instanceof CpuFault)) throw nested;
          e = nested;
        }
        if (handled) {
          // The handled trap costs budget and time too (see TRAP_COST).
          done += TRAP_COST;
          this.#trapCharge[c.index] = (this.#trapCharge[c.index] ?? 0) + TRAP_COST;
          continue;
        }
        const crash = new HypervisorCrash(c.index, e, this.backtrace(c.index), what);
        if (what !== "in a host call") this.crash = crash;
        throw crash;
      }
    }
    return done;
  }

  #alive(): void {
    if (this.crash !== undefined) throw this.crash;
  }

  /** Whether nothing runs: every CPU is halted or parked and no task waits. */
  quiet(): boolean {
    for (let k = 0; k < this.count; k++) {
      if (this.#queued[k].length > 0) return false;
      if (!this.#parked[k] && !this.cpu(k).halted) return false;
    }
    return true;
  }

  /**
   * Advances the clock by `ns`, running every CPU that has something to do,
   * or until `until()` holds (checked between rounds).
   *
   * @returns Whether `until` became true (always false without it).
   */
  advance(ns: number, until?: () => boolean): boolean {
    this.#alive();
    const end = this.nowNs + ns;
    const roundNs = this.nsFor(this.quantum);
    while (true) {
      if (until?.()) return true;
      if (this.nowNs >= end) return false;
      const runnable: number[] = [];
      for (let k = 0; k < this.count; k++) {
        if (this.#parked[k]) continue;
        const c = this.cpu(k);
        if (this.#current[k] === undefined && this.#queued[k].length > 0 && interruptible(c)) {
          this.#injectTask(k);
        }
        if (!c.halted) runnable.push(k);
      }
      if (runnable.length === 0) {
        // Nothing executes: jump to the next moment something can change.
        const next = this.nextEventNs?.();
        this.nowNs = Math.min(end, next !== undefined && next > this.nowNs ? next : end);
        this.onRound?.();
        continue;
      }
      // Rotate the order so that no CPU is always first (deterministic).
      const start = this.#rotate++ % runnable.length;
      for (let j = 0; j < runnable.length; j++) {
        const k = runnable[(start + j) % runnable.length];
        if (this.#parked[k]) continue; // parked by an earlier CPU in this round
        const c = this.cpu(k);
        this.retired += this.#step(c, this.quantum, "while running");
        if (c.stop === STOP_RETURN) {
          throw new HypervisorCrash(k, new CpuFault("GP", "returned to the host"), [], "");
        }
      }
      this.nowNs += roundNs;
      this.onRound?.();
    }
  }

  /** When nothing runs, the next time the host must look again (a rendezvous deadline). */
  nextEventNs: (() => number | undefined) | undefined = undefined;

  /** The exact call chain of CPU `k`: rip, then return addresses, innermost first. */
  backtrace(k: number): string[] {
    const c = this.cpu(k);
    return c.calls.backtrace(c.rip).map((a, i) => this.#symbolize(fromLinear(a), i > 0));
  }

  /** Raw addresses of {@linkcode backtrace}. */
  backtraceAddresses(k: number): bigint[] {
    const c = this.cpu(k);
    return c.calls.backtrace(c.rip).map(fromLinear);
  }

  /** Stack words of CPU `k` that point into text, with the slot they were found in. */
  scanStack(k: number, text: readonly TextRange[]): { slot: bigint; address: bigint }[] {
    const c = this.cpu(k);
    const mem = c.mem;
    const read = (a: number) => {
      const v = mem.readU64(fromLinear(a));
      const s = BigInt.asIntN(64, v);
      return s < -(1n << 47n) || s >= 1n << 47n ? NaN : Number(s);
    };
    return scanStackWords(read, c.rspLinear(), toLinear(this.#stackTops[k]), text).map((h) => ({
      slot: fromLinear(h.slot),
      address: fromLinear(h.address),
    }));
  }
}

/** Whether an interrupt could be taken now: IF set. */
function interruptible(c: Cpu): boolean {
  return (c.rflags & 0x200) !== 0;
}

/** Number of general-purpose registers (for snapshots). */
export const GPR_COUNT = GPRS;
