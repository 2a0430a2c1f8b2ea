/**
 * Host interception of a guest address: when a CPU reaches `address`, a
 * host function runs instead of the instruction there. The host uses it for
 * `check_for_livepatch_work`, which it performs itself (reference §5.1).
 *
 * The record is pinned in the decode cache, so code writes never drop it,
 * and the guest bytes stay untouched (expectations, disassembly and the
 * stack scan see the real image).
 *
 * @module
 */
import { Mnemonic } from "iced-x86";
import { type Cpu, type Insn, type Machine, toLinear } from "@lpkit/x86-emu";

/** What an interception does with the CPU. */
export type Interception =
  /** Emulate `ret`: the intercepted function returns to its caller at once. */
  | "return"
  /** Stop this CPU's run; it stays at `address` and runs the host function again when resumed. */
  | "stop";

/** `Cpu.stop` value for a host stop (STOP_HOST in x86-emu's cpu.ts). */
const STOP_HOST = 4;

/**
 * Pops the return address at `rsp` into `rip`, as `ret` does, keeping the
 * exact call chain in step.
 */
export function emulateReturn(cpu: Cpu): void {
  const sp = cpu.rspLinear();
  const target = cpu.mem.readU64(BigInt.asUintN(64, BigInt(sp)));
  cpu.setRspLinear(sp + 8);
  const t = toLinear(target);
  cpu.calls.onReturn(sp, t);
  cpu.rip = t;
}

/**
 * Installs `fn` at `address` (an instruction boundary of mapped code).
 *
 * @example
 * ```ts ignore
 * intercept(machine, checkForLivepatchWork, (cpu) => "return");
 * ```
 */
export function intercept(
  machine: Machine,
  address: bigint,
  fn: (cpu: Cpu) => Interception,
): void {
  const a = toLinear(address);
  const page = machine.memory.page(a);
  if (page === undefined) throw new RangeError(`Cannot intercept 0x${address.toString(16)}`);
  const rec: Insn = {
    ip: a,
    len: 1,
    next: a + 1,
    code: 0,
    mnemonic: Mnemonic.Nop,
    flow: 0,
    cc: 0,
    bytes: machine.memory.read(address, 1),
    ops: [],
    mem: null,
    target: NaN,
    lock: false,
    rep: false,
    repne: false,
    segPrefix: -1,
    privileged: false,
    impl: 0,
    pinned: true,
    exec: (cpu: Cpu) => {
      cpu.rip = a;
      if (fn(cpu) === "return") emulateReturn(cpu);
      else cpu.stop = STOP_HOST;
    },
  };
  (page.code ??= new Array(4096))[a - page.number * 4096] = rec;
}
