/**
 * What `arch_livepatch_apply` writes over an old function and what
 * `arch_livepatch_revert` puts back (reference §5.3–§5.4): an `e9 rel32`
 * jump, after a leading ENDBR64 when the profile knows CET-IBT, or Xen's
 * ideal NOPs in NOP mode; the undo buffer holds the bytes it replaced.
 *
 * @module
 */
import { JMP_REL32_LENGTH, patchOffset } from "@lpkit/x86-emu";
import { LIVEPATCH_OPAQUE_SIZE } from "./funcs.ts";

/** Which NOP family `add_nops` uses (`ideal_nops`, reference §5.3). */
export type NopFlavor = "p6" | "k8";

// P6 NOPs (the default) and K8 NOPs, indexed by length 1..9 (Xen's nops.h).
const P6_NOPS: readonly number[][] = [
  [],
  [0x90],
  [0x66, 0x90],
  [0x0f, 0x1f, 0x00],
  [0x0f, 0x1f, 0x40, 0x00],
  [0x0f, 0x1f, 0x44, 0x00, 0x00],
  [0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00],
  [0x0f, 0x1f, 0x80, 0x00, 0x00, 0x00, 0x00],
  [0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00],
  [0x66, 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00],
];
const K8 = (n: number) => [...new Array(n - 1).fill(0x66), 0x90]; // osp... nop, n <= 4
const K8_NOPS: readonly number[][] = [
  [],
  K8(1),
  K8(2),
  K8(3),
  K8(4),
  [...K8(3), ...K8(2)],
  [...K8(3), ...K8(3)],
  [...K8(4), ...K8(3)],
  [...K8(4), ...K8(4)],
  [...K8(3), ...K8(3), ...K8(3)],
];
/** Longest single NOP (`ASM_NOP_MAX`). */
const NOP_MAX = 9;

/**
 * Xen's `add_nops`: `length` bytes of NOPs, split greedily into 9-byte ones.
 *
 * @example
 * ```ts
 * import { idealNops } from "@lpkit/livepatch-core";
 * import assert from "node:assert/strict";
 * assert.deepEqual([...idealNops(3)], [0x0f, 0x1f, 0x00]);
 * assert.equal(idealNops(11).length, 11);
 * ```
 */
export function idealNops(length: number, flavor: NopFlavor = "p6"): Uint8Array {
  const table = flavor === "k8" ? K8_NOPS : P6_NOPS;
  const out = new Uint8Array(length);
  let at = 0;
  while (at < length) {
    const n = Math.min(NOP_MAX, length - at);
    out.set(table[n], at);
    at += n;
  }
  return out;
}

/** One func as the patcher needs it. */
export interface PatchFunc {
  readonly oldAddr: bigint;
  /** 0 in NOP mode. */
  readonly newAddr: bigint;
  readonly newSize: number;
}

/** What applying a func writes. */
export interface PatchPlan {
  /** Bytes skipped at the function start (4 after an ENDBR64 or its poison). */
  readonly offset: number;
  /** Where the instruction goes: `oldAddr + offset`. */
  readonly address: bigint;
  /** The bytes written (empty when there is nothing to write). */
  readonly insn: Uint8Array;
  /**
   * For a jump: true when `new_addr - (address + 5)` does not fit in rel32.
   * Xen truncates it without checking (its upload check uses `old - new`);
   * the host refuses instead unless it reproduces Xen exactly.
   */
  readonly outOfReach: boolean;
  /**
   * NOP mode after an ENDBR64 with `new_size < 4`: Xen's unsigned length
   * wraps and it copies ~4 GiB (a crash). Reported, never emulated.
   */
  readonly lengthUnderflow: boolean;
}

/**
 * Plans `arch_livepatch_apply` for one func, given the first bytes at
 * `old_addr` (at least 4, for the ENDBR64 test).
 *
 * @example A jump after an ENDBR64
 * ```ts
 * import { planPatch } from "@lpkit/livepatch-core";
 * import assert from "node:assert/strict";
 * const plan = planPatch(
 *   { oldAddr: 0x1000n, newAddr: 0x2000n, newSize: 16 },
 *   new Uint8Array([0xf3, 0x0f, 0x1e, 0xfa]),
 *   true,
 * );
 * assert.equal(plan.offset, 4);
 * assert.deepEqual([...plan.insn], [0xe9, 0xf7, 0x0f, 0x00, 0x00]);
 * ```
 */
export function planPatch(
  func: PatchFunc,
  head: Uint8Array,
  endbrAware: boolean,
  flavor: NopFlavor = "p6",
): PatchPlan {
  const offset = endbrAware ? patchOffset(head) : 0;
  const address = func.oldAddr + BigInt(offset);
  if (func.newAddr !== 0n) {
    const rel = BigInt.asIntN(64, func.newAddr - (address + BigInt(JMP_REL32_LENGTH)));
    const insn = new Uint8Array(JMP_REL32_LENGTH);
    insn[0] = 0xe9;
    new DataView(insn.buffer).setUint32(1, Number(BigInt.asUintN(32, rel)), true);
    return {
      offset,
      address,
      insn,
      outOfReach: rel < -(1n << 31n) || rel >= 1n << 31n,
      lengthUnderflow: false,
    };
  }
  const len = func.newSize - offset;
  if (len < 0) {
    return { offset, address, insn: new Uint8Array(0), outOfReach: false, lengthUnderflow: true };
  }
  return {
    offset,
    address,
    insn: idealNops(Math.min(len, LIVEPATCH_OPAQUE_SIZE), flavor),
    outOfReach: false,
    lengthUnderflow: false,
  };
}
