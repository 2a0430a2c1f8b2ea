/**
 * The live-patch trampoline: a 5-byte `jmp rel32` (`e9 xx xx xx xx`) written at a function's
 * patch point, which follows a leading `endbr64` (or its poison) as in Xen's
 * `arch_livepatch_apply` (emulation.md §1, "Encoding the live-patch jmp rel32").
 *
 * @module
 */

import { Code, Encoder, Instruction } from "iced-x86";
import { EmuError } from "./faults.ts";

/** Length of the trampoline. */
export const JMP_REL32_LENGTH = 5;
/** `endbr64`. */
export const ENDBR64: Uint8Array = new Uint8Array([0xf3, 0x0f, 0x1e, 0xfa]);
/** Xen's poisoned `endbr64` (`nopw (%rcx)`), written where IBT entry points are disabled. */
export const ENDBR64_POISON: Uint8Array = new Uint8Array([0x66, 0x0f, 0x1f, 0x01]);

const I32_MIN = -(2n ** 31n);
const I32_MAX = 2n ** 31n - 1n;

/**
 * The rel32 of a `jmp` at `from` to `to`, or null when it does not fit in a signed 32-bit value.
 * The displacement is counted from the end of the 5-byte instruction, modulo 2^64.
 *
 * @example
 * ```ts
 * import { jmpRel32Displacement } from "@lpkit/x86-emu";
 * import assert from "node:assert/strict";
 * assert.equal(jmpRel32Displacement(0x1000n, 0x1005n + 0x7fffffffn), 0x7fffffffn);
 * assert.equal(jmpRel32Displacement(0x1000n, 0x1005n + 0x80000000n), null);
 * ```
 */
export function jmpRel32Displacement(from: bigint, to: bigint): bigint | null {
  const rel = BigInt.asIntN(64, BigInt.asUintN(64, to) - BigInt.asUintN(64, from + 5n));
  return rel >= I32_MIN && rel <= I32_MAX ? rel : null;
}

/**
 * Whether a `jmp rel32` at `from` reaches `to`.
 *
 * @example
 * ```ts
 * import { jmpRel32Reaches } from "@lpkit/x86-emu";
 * import assert from "node:assert/strict";
 * assert.equal(jmpRel32Reaches(0x80000000n, 0x5n), true); // exactly -2^31
 * assert.equal(jmpRel32Reaches(0x80000000n, 0x4n), false);
 * ```
 */
export function jmpRel32Reaches(from: bigint, to: bigint): boolean {
  return jmpRel32Displacement(from, to) !== null;
}

/**
 * Encode `jmp to` at address `from` as exactly `e9 rel32`, with iced-x86's `Encoder`.
 *
 * @param from Address of the jump.
 * @param to Target.
 * @returns The 5 bytes.
 * @throws {EmuError} `OUT_OF_REACH` when the target is out of rel32 reach.
 *
 * @example
 * ```ts
 * import { encodeJmpRel32 } from "@lpkit/x86-emu";
 * import assert from "node:assert/strict";
 * const b = encodeJmpRel32(0xffff82d040200000n, 0xffff82d040300000n);
 * assert.deepEqual([...b], [0xe9, 0xfb, 0xff, 0x0f, 0x00]);
 * ```
 */
export function encodeJmpRel32(from: bigint, to: bigint): Uint8Array {
  const f = BigInt.asUintN(64, from), t = BigInt.asUintN(64, to);
  if (!jmpRel32Reaches(f, t)) {
    throw new EmuError(
      "OUT_OF_REACH",
      `Cannot encode jmp rel32 from 0x${f.toString(16)} to 0x${t.toString(16)}: out of reach`,
      `0x${t.toString(16)}`,
    );
  }
  const ins = Instruction.createBranch(Code.Jmp_rel32_64, t);
  const enc = new Encoder(64);
  try {
    const len = enc.encode(ins, f);
    const bytes = enc.takeBuffer();
    if (len !== JMP_REL32_LENGTH || bytes[0] !== 0xe9) {
      throw new Error(`iced-x86 encoded jmp rel32 as ${len} bytes`); // cannot happen
    }
    return bytes;
  } finally {
    ins.free();
    enc.free();
  }
}

/**
 * Decode a `jmp rel32` at `address`: its target, or null when the bytes are not `e9 rel32`.
 *
 * @example
 * ```ts
 * import { decodeJmpRel32 } from "@lpkit/x86-emu";
 * import assert from "node:assert/strict";
 * assert.equal(decodeJmpRel32(new Uint8Array([0xe9, 0xfb, 0xff, 0x0f, 0x00]), 0xffff82d040200000n), 0xffff82d040300000n);
 * ```
 */
export function decodeJmpRel32(bytes: Uint8Array, address: bigint): bigint | null {
  if (bytes.length < JMP_REL32_LENGTH || bytes[0] !== 0xe9) return null;
  const rel = new DataView(bytes.buffer, bytes.byteOffset, 5).getInt32(1, true);
  return BigInt.asUintN(64, BigInt.asUintN(64, address) + 5n + BigInt(rel));
}

function startsWith(b: Uint8Array, p: Uint8Array): boolean {
  return b.length >= p.length && p.every((x, k) => b[k] === x);
}

/** What a function starts with, for placing the trampoline. */
export type FunctionEntryKind = "endbr64" | "endbr64-poison" | "plain";

/**
 * Classify a function's first bytes.
 *
 * @example
 * ```ts
 * import { functionEntryKind } from "@lpkit/x86-emu";
 * import assert from "node:assert/strict";
 * assert.equal(functionEntryKind(new Uint8Array([0xf3, 0x0f, 0x1e, 0xfa, 0x55])), "endbr64");
 * assert.equal(functionEntryKind(new Uint8Array([0x66, 0x0f, 0x1f, 0x01])), "endbr64-poison");
 * assert.equal(functionEntryKind(new Uint8Array([0x55])), "plain");
 * ```
 */
export function functionEntryKind(bytes: Uint8Array): FunctionEntryKind {
  if (startsWith(bytes, ENDBR64)) return "endbr64";
  if (startsWith(bytes, ENDBR64_POISON)) return "endbr64-poison";
  return "plain";
}

/**
 * Offset of the patch point in a function: 4 after `endbr64` or its poison, else 0 (Xen's
 * `patch_offset`).
 *
 * @example
 * ```ts
 * import { patchOffset } from "@lpkit/x86-emu";
 * import assert from "node:assert/strict";
 * assert.equal(patchOffset(new Uint8Array([0xf3, 0x0f, 0x1e, 0xfa])), 4);
 * assert.equal(patchOffset(new Uint8Array([0x41, 0x54])), 0);
 * ```
 */
export function patchOffset(bytes: Uint8Array): number {
  return functionEntryKind(bytes) === "plain" ? 0 : ENDBR64.length;
}
