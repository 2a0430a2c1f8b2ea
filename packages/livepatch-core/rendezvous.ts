/**
 * The live-patch rendezvous (reference §5.1): `schedule_work`, the per-CPU
 * `work_to_do` flag, and `check_for_livepatch_work`, which each CPU reaches
 * from its idle loop. The first CPU to arrive becomes the master, kicks the
 * others and spins until they all arrived ("CPU" phase) and all disabled
 * interrupts ("IRQ" phase), both within the action's timeout measured on the
 * simulated clock; then it runs the action while the others spin. On a
 * timeout the payload's rc becomes -EBUSY and nothing changes.
 *
 * The host performs `check_for_livepatch_work` itself (it intercepts the
 * function's address); CPUs "spinning" are parked, letting time pass.
 *
 * @module
 */
import { ERRNO } from "./errno.ts";
import type { HostCpus } from "./cpus.ts";
import { type Cpu, type HookAction, toLinear } from "@lpkit/x86-emu";

/** The outstanding action (`struct livepatch_work`). */
export interface LivepatchWork {
  /** `LIVEPATCH_ACTION_*`. */
  readonly cmd: number;
  /** The payload acted on. */
  readonly payload: string;
  /** Timeout in nanoseconds. */
  readonly timeoutNs: number;
  /** Incremented by arriving CPUs, from -1. */
  semaphore: number;
  /** Set by the master when every CPU arrived. */
  ready: boolean;
  /** Cleared when the action is over (done or aborted). */
  doWork: boolean;
  /** The master CPU, once elected. */
  master?: number;
  /** Master's deadline (`NOW() + timeout`). */
  deadlineNs?: number;
  /** CPUs spinning for the master, in arrival order. */
  readonly followers: number[];
  /** Saved RFLAGS.IF of each follower that disabled interrupts. */
  readonly savedIf: Map<number, number>;
}

/** What the rendezvous needs from the host. */
export interface RendezvousHost {
  readonly cpus: HostCpus;
  /** Console output (`printk`), already prefixed with the payload's name where Xen does. */
  log(line: string): void;
  /** Sets the payload's rc (`livepatch_work.data->rc`), with why. */
  setRc(payload: string, rc: number, detail: string): void;
  /** `livepatch_do_action` on the master with the others parked and IRQs off. */
  doAction(work: LivepatchWork, master: number): void;
  /** After release, on the master: post-apply / post-revert hooks and the final message. */
  afterAction(work: LivepatchWork, master: number, actionDone: boolean): void;
  /** Mirrors `work_to_do` into guest memory where the image keeps it (the minivisor's idle loop reads it). */
  workToDoChanged?(cpu: number, value: boolean): void;
}

/**
 * The rendezvous state of a host.
 *
 * @example
 * ```ts
 * import { HostCpus, Rendezvous } from "@lpkit/livepatch-core";
 * import { Machine } from "@lpkit/x86-emu";
 * import assert from "node:assert/strict";
 * const cpus = new HostCpus(new Machine({ cpus: 2 }));
 * const noop = () => {};
 * const rv = new Rendezvous({ cpus, log: noop, setRc: noop, doAction: noop, afterAction: noop });
 * assert.equal(rv.schedule({ cmd: 1, payload: "hello", timeoutNs: 30e6 }, 0), 0);
 * assert.equal(rv.busy, true);
 * assert.equal(rv.schedule({ cmd: 1, payload: "bye", timeoutNs: 30e6 }, 0), -16); // -EBUSY
 * ```
 */
export class Rendezvous {
  /** The outstanding action, if any. */
  work: LivepatchWork | undefined = undefined;
  /** `per_cpu(work_to_do)`. */
  readonly workToDo: boolean[];
  readonly #host: RendezvousHost;

  constructor(host: RendezvousHost) {
    this.#host = host;
    this.workToDo = new Array(host.cpus.count).fill(false);
  }

  #setWorkToDo(cpu: number, value: boolean): void {
    this.workToDo[cpu] = value;
    this.#host.workToDoChanged?.(cpu, value);
  }

  /** Whether an action is outstanding (`livepatch_work.do_work`). */
  get busy(): boolean {
    return this.work?.doWork === true;
  }

  /**
   * `schedule_work`: -EBUSY while another action is outstanding, else the
   * work is recorded and the livepatch tasklet scheduled on `cpu` (the CPU
   * that issued the sysctl). Returns 0 or -EBUSY.
   */
  schedule(
    request: { cmd: number; payload: string; timeoutNs: number },
    cpu: number,
  ): number {
    if (this.busy) return -ERRNO.EBUSY;
    this.work = {
      ...request,
      semaphore: -1,
      ready: false,
      doWork: true,
      followers: [],
      savedIf: new Map(),
    };
    this.#setWorkToDo(cpu, true);
    this.#host.cpus.wake(cpu);
    return 0;
  }

  /** `check_for_livepatch_work` on `cpu`, reached from its idle loop. */
  check(cpu: number): HookAction {
    if (!this.workToDo[cpu]) return "return";
    const work = this.work;
    if (work === undefined || !work.doWork) {
      this.#setWorkToDo(cpu, false); // aborted: skip right away
      return "return";
    }
    const cpus = this.#host.cpus;
    work.semaphore++;
    if (work.semaphore === 0) {
      work.master = cpu;
      for (let k = 0; k < cpus.count; k++) {
        if (k === cpu) continue;
        this.#setWorkToDo(k, true); // tasklet_schedule_on_cpu: an IPI wakes it
        cpus.wake(k);
      }
      work.deadlineNs = cpus.nowNs + work.timeoutNs;
    } else {
      work.followers.push(cpu);
    }
    cpus.park(cpu); // the master's spin is evaluated between rounds, not re-entrantly
    return "stop";
  }

  /** The master's deadline, when it is spinning (the host wakes up for it). */
  nextEventNs(): number | undefined {
    return this.work?.doWork && this.work.master !== undefined ? this.work.deadlineNs : undefined;
  }

  /** The master's spin loop, evaluated between rounds. */
  evaluate(): void {
    const work = this.work;
    if (work === undefined || !work.doWork || work.master === undefined) return;
    const cpus = this.#host.cpus;
    const others = cpus.count - 1;
    if (!work.ready) {
      if (work.semaphore !== others) {
        if (cpus.nowNs >= work.deadlineNs!) this.#timeout(work, "CPU", work.semaphore, others);
        return;
      }
      // All CPUs are waiting: signal them to disable IRQs. Spinning followers
      // see `ready` at once, disable interrupts and increment again.
      work.semaphore = 0;
      work.ready = true;
      for (const f of work.followers) {
        const c = cpus.cpu(f);
        work.savedIf.set(f, c.rflags & 0x200);
        c.rflags = c.rflags & ~0x200;
        work.semaphore++;
      }
    }
    if (work.semaphore !== others) {
      if (cpus.nowNs >= work.deadlineNs!) this.#timeout(work, "IRQ", work.semaphore, others);
      return;
    }
    const master = work.master;
    const mc = cpus.cpu(master);
    const masterIf = mc.rflags & 0x200;
    mc.rflags = mc.rflags & ~0x200;
    this.#host.doAction(work, master);
    mc.rflags = mc.rflags | masterIf;
    this.#finish(work, true);
  }

  #timeout(work: LivepatchWork, phase: string, arrived: number, wanted: number): void {
    const detail = `Timed out on semaphore in ${phase} quiesce phase ${
      Math.max(arrived, 0)
    }/${wanted}`;
    this.#host.log(`livepatch: ${work.payload}: ${detail}`);
    this.#host.setRc(work.payload, -ERRNO.EBUSY, detail);
    this.#finish(work, false);
  }

  /** Releases every parked CPU: `arch_livepatch_post_action` (serializing), IRQs back on. */
  #finish(work: LivepatchWork, actionDone: boolean): void {
    work.doWork = false;
    const cpus = this.#host.cpus;
    const release = (k: number) => {
      const c = cpus.cpu(k);
      const saved = work.savedIf.get(k);
      if (saved !== undefined) c.rflags = (c.rflags & ~0x200) | saved;
      c.stale = null; // the TLB flush in arch_livepatch_post_action serializes
      this.#setWorkToDo(k, false);
      cpus.unpark(k);
      emulateReturn(c);
    };
    for (const f of work.followers) release(f);
    release(work.master!);
    this.#host.afterAction(work, work.master!, actionDone);
  }
}

/** Pops the return address at `rsp` into `rip`, as `ret` does, keeping the call chain in step. */
function emulateReturn(cpu: Cpu): void {
  const sp = cpu.rspLinear();
  const target = cpu.mem.readU64(BigInt.asUintN(64, BigInt(sp)));
  cpu.setRspLinear(sp + 8);
  const t = toLinear(target);
  cpu.calls.onReturn(sp, t);
  cpu.rip = t;
}
