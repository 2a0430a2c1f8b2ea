/**
 * Patching and unpatching a payload's functions in hypervisor memory:
 * `apply_payload`/`revert_payload`'s per-function loop with Xen's
 * `struct livepatch_fstate` (the undo buffer lives there since 4.17.3,
 * reference §1.3, §5.2–§5.4), and the expectation check done at APPLY
 * (reference §4.5 step c).
 *
 * @module
 */
import { type ErrnoName, LivepatchError } from "./errno.ts";
import { LIVEPATCH_OPAQUE_SIZE } from "./funcs.ts";
import { type NopFlavor, planPatch } from "./patch.ts";
import type { PreparedFunc } from "./prepare.ts";

/** Byte access to hypervisor memory (host writes ignore page permissions, as Xen relaxes them). */
export interface PatchMemory {
  read(address: bigint, length: number): Uint8Array;
  write(address: bigint, bytes: Uint8Array): void;
}

/** `struct livepatch_fstate`: Xen's per-function state, outside the payload. */
export interface FuncState {
  /** `LIVEPATCH_FUNC_APPLIED`. */
  applied: boolean;
  /** 4 when the jump went after an ENDBR64, else 0. */
  patchOffset: number;
  /** The undo buffer: the bytes the patch replaced (up to 31). */
  insnBuffer: Uint8Array;
}

/** A fresh, not-applied state for each func.
 *
 * @example
 * ```ts
 * import { initialFuncStates } from "@lpkit/livepatch-core";
 * import assert from "node:assert/strict";
 * assert.deepEqual(initialFuncStates(1), [{ applied: false, patchOffset: 0, insnBuffer: new Uint8Array(0) }]);
 * ```
 */
export function initialFuncStates(count: number): FuncState[] {
  return Array.from({ length: count }, () => ({
    applied: false,
    patchOffset: 0,
    insnBuffer: new Uint8Array(0),
  }));
}

/** Options of {@linkcode applyFuncs}. */
export interface ApplyOptions {
  /** Put the jump after a leading ENDBR64 (CET-IBT aware profiles). */
  readonly endbrAware: boolean;
  /** NOP family for NOP mode. */
  readonly nops: NopFlavor;
  /**
   * Refuse a jump whose rel32 does not reach (Xen truncates it silently,
   * reference §5.3). Checked for every func before anything is written.
   */
  readonly refuseOutOfReach: boolean;
  /** Called for an entry applied earlier (Xen prints a warning and skips it). */
  readonly onAlreadyApplied?: (func: PreparedFunc) => void;
}

/**
 * `arch_livepatch_apply` for every func not yet applied: saves the undo
 * buffer, writes the jump or NOPs, marks the func applied. Nothing is
 * written when a func is refused.
 *
 * @example
 * ```ts
 * import { applyFuncs, initialFuncStates } from "@lpkit/livepatch-core";
 * import assert from "node:assert/strict";
 * const bytes = new Uint8Array(0x100).fill(0x90);
 * bytes.set([0xf3, 0x0f, 0x1e, 0xfa]); // endbr64 at 0x1000
 * const mem = {
 *   read: (a: bigint, n: number) => bytes.slice(Number(a - 0x1000n), Number(a - 0x1000n) + n),
 *   write: (a: bigint, b: Uint8Array) => bytes.set(b, Number(a - 0x1000n)),
 * };
 * const func = { index: 0, name: "f", entryAddress: 0n, oldAddr: 0x1000n, newAddr: 0x2000n, oldSize: 16,
 *   newSize: 1, version: 2, expect: undefined, padNonZero: false };
 * const states = initialFuncStates(1);
 * applyFuncs([func], states, mem, { endbrAware: true, nops: "p6", refuseOutOfReach: true });
 * assert.equal(bytes[4], 0xe9);
 * assert.deepEqual(states[0], { applied: true, patchOffset: 4, insnBuffer: new Uint8Array(5).fill(0x90) });
 * ```
 */
export function applyFuncs(
  funcs: readonly PreparedFunc[],
  states: FuncState[],
  mem: PatchMemory,
  options: ApplyOptions,
): void {
  const plans = funcs.map((f, i) => {
    if (states[i].applied) return undefined;
    const plan = planPatch(f, mem.read(f.oldAddr, 4), options.endbrAware, options.nops);
    const place = { func: i, symbol: f.name };
    if (plan.outOfReach && options.refuseOutOfReach) {
      throw new LivepatchError(
        "EOVERFLOW",
        "REACH",
        `jump from 0x${plan.address.toString(16)} to 0x${
          f.newAddr.toString(16)
        } does not fit in rel32 (Xen 4.17 would truncate it)`,
        place,
      );
    }
    if (plan.lengthUnderflow) {
      throw new LivepatchError(
        "EINVAL",
        "NOP_UNDERFLOW",
        `NOP new_size ${f.newSize} is shorter than the ENDBR64 it follows (Xen 4.17 would copy ~4 GiB)`,
        place,
      );
    }
    return plan;
  });
  funcs.forEach((f, i) => {
    const plan = plans[i];
    if (plan === undefined) {
      options.onAlreadyApplied?.(f);
      return;
    }
    const s = states[i];
    s.patchOffset = plan.offset;
    s.insnBuffer = mem.read(plan.address, plan.insn.length);
    if (plan.insn.length > 0) mem.write(plan.address, plan.insn);
    s.applied = true;
  });
}

/**
 * `arch_livepatch_revert` for every applied func (entries with old_addr 0
 * are skipped, as Xen does): the undo buffer goes back exactly.
 *
 * @example
 * ```ts
 * import { applyFuncs, initialFuncStates, revertFuncs } from "@lpkit/livepatch-core";
 * import assert from "node:assert/strict";
 * const bytes = new Uint8Array(0x100).fill(0x90);
 * bytes.set([0xf3, 0x0f, 0x1e, 0xfa]); // endbr64 at 0x1000
 * const mem = {
 *   read: (a: bigint, n: number) => bytes.slice(Number(a - 0x1000n), Number(a - 0x1000n) + n),
 *   write: (a: bigint, b: Uint8Array) => bytes.set(b, Number(a - 0x1000n)),
 * };
 * const func = { index: 0, name: "f", entryAddress: 0n, oldAddr: 0x1000n, newAddr: 0x2000n, oldSize: 16,
 *   newSize: 1, version: 2, expect: undefined, padNonZero: false };
 * const states = initialFuncStates(1);
 * applyFuncs([func], states, mem, { endbrAware: true, nops: "p6", refuseOutOfReach: true });
 * revertFuncs([func], states, mem);
 * assert.equal(bytes[4], 0x90);
 * assert.equal(states[0].applied, false);
 * ```
 */
export function revertFuncs(
  funcs: readonly PreparedFunc[],
  states: FuncState[],
  mem: PatchMemory,
): void {
  funcs.forEach((f, i) => {
    const s = states[i];
    if (!s.applied || f.oldAddr === 0n) return;
    if (s.insnBuffer.length > 0) mem.write(f.oldAddr + BigInt(s.patchOffset), s.insnBuffer);
    s.applied = false;
  });
}

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

/**
 * `livepatch_check_expectations`: each enabled expectation must match the
 * bytes at `old_addr` (ENDBR64 included). Throws the first failure with
 * Xen's errno.
 *
 * @example
 * ```ts
 * import { checkExpectations, LivepatchError } from "@lpkit/livepatch-core";
 * import assert from "node:assert/strict";
 * const mem = { read: () => new Uint8Array([0xf3, 0x0f]), write: () => {} };
 * const func = { index: 0, name: "f", entryAddress: 0n, oldAddr: 0x1000n, newAddr: 0x2000n, oldSize: 16,
 *   newSize: 1, version: 2, padNonZero: false,
 *   expect: { enabled: true, len: 2, rsv: 0, data: new Uint8Array([0xde, 0xad]) } };
 * assert.throws(() => checkExpectations([func], mem), (e) => e instanceof LivepatchError && e.code === "EXPECT");
 * ```
 */
export function checkExpectations(funcs: readonly PreparedFunc[], mem: PatchMemory): void {
  funcs.forEach((f, i) => {
    const e = f.expect;
    if (e === undefined || !e.enabled) return;
    const fail = (errno: ErrnoName, detail: string): never => {
      throw new LivepatchError(errno, "EXPECT", detail, { func: i, symbol: f.name });
    };
    if (f.oldAddr === 0n) fail("EFAULT", "expectation on a function without old_addr");
    if (e.len > LIVEPATCH_OPAQUE_SIZE) fail("EOVERFLOW", `expectation length ${e.len} is over 31`);
    if (e.rsv !== 0) fail("EINVAL", "expectation has non-zero reserved bits");
    if (f.oldSize < e.len) {
      fail("ERANGE", `expectation length ${e.len} exceeds old_size ${f.oldSize}`);
    }
    const actual = mem.read(f.oldAddr, e.len);
    const expected = e.data.subarray(0, e.len);
    if (hex(actual) !== hex(expected)) {
      fail("EINVAL", `expectation failed: expected:${hex(expected)}, actual:${hex(actual)}`);
    }
  });
}
