/**
 * A multi-CPU x86-64 emulator built on the iced-x86 decoder, able to run real Xen hypervisor
 * code: sparse paged memory with permissions, a per-address decode cache, an interpreter with
 * exact flags, a SysV call helper, Xen-style per-CPU stacks, a deterministic scheduler, exact
 * call chains, strict cross-modifying-code checking, trampolines and coverage measurement.
 *
 * ```ts
 * import { Machine, PERM_RX } from "@lpkit/x86-emu";
 * import assert from "node:assert/strict";
 * const m = new Machine({ cpus: 1 });
 * // mov eax, edi; imul eax, esi; ret
 * m.map({ address: 0x1000n, data: new Uint8Array([0x89, 0xf8, 0x0f, 0xaf, 0xc6, 0xc3]), size: 6, perms: PERM_RX });
 * assert.equal(m.call(0, 0x1000n, [6n, 7n]), 42n);
 * ```
 *
 * @module
 */
export * from "./address.ts";
export * from "./faults.ts";
export * from "./memory.ts";
export {
  codeName,
  decodeAt,
  decodeBytes,
  type Handler,
  IMPL_BY_DESIGN,
  IMPL_NO,
  IMPL_YES,
  type Insn,
  type MemOperand,
  mnemonicName,
  type Operand,
} from "./decoder.ts";
export * from "./flags.ts";
export * from "./cpu_model.ts";
export * from "./cpu.ts";
export * from "./stack.ts";
export * from "./scheduler.ts";
export * from "./machine.ts";
export * from "./image.ts";
export * from "./trampoline.ts";
export * from "./coverage.ts";
export { Block, Jit, type JitOptions, NO_BLOCK } from "./jit.ts";
export type { AluState, LazyFlagState } from "./alu.ts";
