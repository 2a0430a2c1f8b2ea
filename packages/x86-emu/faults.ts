/**
 * Faults and events raised by the emulator.
 *
 * @module
 */

/** Stable machine-readable fault codes of {@linkcode CpuFault}. */
export type CpuFaultCode =
  | "PAGE_FAULT"
  | "GP"
  | "UD"
  | "UD2"
  | "BP"
  | "DE"
  | "HLT"
  | "BUDGET"
  | "IO"
  | "STOPPED";

/** Options of {@linkcode CpuFault}. */
export interface CpuFaultOptions {
  /** The faulting linear address (page faults, #GP on non-canonical addresses). */
  address?: bigint;
  /** Address of the faulting instruction; filled by the CPU loop when unknown. */
  rip?: bigint;
  /** For page faults: which access failed. */
  access?: "read" | "write" | "execute";
  /** For #UD: mnemonic name of the instruction. */
  mnemonic?: string;
  /** For #UD: the instruction bytes. */
  bytes?: Uint8Array;
  /** Index of the CPU that faulted, when known. */
  cpu?: number;
}

/**
 * A CPU exception or emulator stop condition.
 *
 * `code` is stable and meant for programs: `PAGE_FAULT` (unmapped page, write to a read-only page,
 * execution of a non-executable page), `GP` (non-canonical address, unknown MSR, ...), `UD` (invalid
 * or not implemented instruction; `mnemonic` and `bytes` name it), `UD2` (the `ud2` instruction,
 * which Xen uses for its BUG/WARN frames), `BP` (`int3`), `DE` (divide error), `HLT`, `BUDGET`
 * (instruction budget exhausted), `IO` (port I/O without a handler) and `STOPPED` (a host hook
 * stopped the CPU during {@linkcode Machine.call}).
 *
 * @example Catching a page fault
 * ```ts
 * import { CpuFault } from "@lpkit/x86-emu";
 * import assert from "node:assert/strict";
 * const f = new CpuFault("PAGE_FAULT", "Cannot read unmapped memory", { address: 0x1000n, access: "read" });
 * assert.equal(f.code, "PAGE_FAULT");
 * assert.equal(f.address, 0x1000n);
 * ```
 */
export class CpuFault extends Error {
  /** Stable fault code. */
  readonly code: CpuFaultCode;
  /** Faulting address (-1n when not applicable). */
  readonly address: bigint;
  /** Address of the faulting instruction (-1n until the CPU loop fills it in). */
  rip: bigint;
  /** Page-fault access kind. */
  readonly access: "read" | "write" | "execute" | undefined;
  /** Instruction mnemonic for #UD faults. */
  readonly mnemonic: string | undefined;
  /** Instruction bytes for #UD faults. */
  readonly bytes: Uint8Array | undefined;
  /** CPU index, when known. */
  cpu: number;

  /**
   * A fault with its code, message and details.
   *
   * @param code Stable fault code.
   * @param message Human-readable description.
   * @param options Details of the fault.
   */
  constructor(code: CpuFaultCode, message: string, options: CpuFaultOptions = {}) {
    super(message);
    this.name = "CpuFault";
    this.code = code;
    this.address = options.address ?? -1n;
    this.rip = options.rip ?? -1n;
    this.access = options.access;
    this.mnemonic = options.mnemonic;
    this.bytes = options.bytes;
    this.cpu = options.cpu ?? -1;
  }
}

/** Stable codes of {@linkcode EmuError}. */
export type EmuErrorCode =
  | "NO_CPU"
  | "CPU_BUSY"
  | "UNKNOWN_SYMBOL"
  | "NO_SYMBOLS"
  | "UNMAPPED"
  | "LIMIT"
  | "BAD_OPTION"
  | "OUT_OF_REACH";

/**
 * A misuse of the emulator's API by the host (as opposed to a {@linkcode CpuFault}, which the
 * guest causes): an unknown CPU index or symbol, a hook on unmapped memory, too many host
 * functions, an invalid option, a jump target out of rel32 reach. `code` is stable; `subject` names the CPU, symbol or address.
 *
 * @example
 * ```ts
 * import { EmuError, Machine } from "@lpkit/x86-emu";
 * import assert from "node:assert/strict";
 * const m = new Machine({ cpus: 1 });
 * assert.throws(() => m.call(3, 0x1000n), (e) => e instanceof EmuError && e.code === "NO_CPU");
 * ```
 */
export class EmuError extends Error {
  /** Stable error code. */
  readonly code: EmuErrorCode;
  /** What the error is about (CPU index, symbol name, hex address), when there is one. */
  readonly subject: string | undefined;

  /**
   * An API misuse error.
   *
   * @param code Stable code.
   * @param message One-line description.
   * @param subject What it is about.
   */
  constructor(code: EmuErrorCode, message: string, subject?: string) {
    super(message);
    this.name = "EmuError";
    this.code = code;
    this.subject = subject;
  }
}
