/**
 * Checks lpkit makes beyond Xen 4.17 (each can be switched off to reproduce
 * Xen exactly, see the README's "lpkit vs Xen 4.17"):
 *
 * - the **stack safety check** at the rendezvous: no CPU's exact call chain
 *   or conservatively scanned stack holds an address inside a function being
 *   patched or unpatched (Xen relies on the idle-loop rendezvous alone,
 *   reference §5.6; Linux reports "sleeping on function X");
 * - a **deny-list** of functions that must not be patched: the rendezvous
 *   and patching paths and the NMI/MCE handlers (the seed's TODO);
 * - **branches into the patch site**: no branch of the old function may land
 *   inside the bytes the trampoline overwrites;
 * - the jump's rel32 must reach (Xen truncates it, reference §5.3).
 *
 * @module
 */
import { FlowControl } from "iced-x86";
import { decodeBytes, JMP_REL32_LENGTH, patchOffset } from "@lpkit/x86-emu";
import type { PreparedFunc } from "./prepare.ts";

/** Which of lpkit's additional checks are on (all by default). */
export interface SafetyOptions {
  /** Stack safety check at the rendezvous (exact call chain and conservative scan). */
  readonly stackCheck: boolean;
  /** Functions that must not be patched (Xen names, `file#name` for statics); empty: none. */
  readonly denyList: readonly string[];
  /** Refuse payloads whose old function branches into the bytes the patch overwrites. */
  readonly branchCheck: boolean;
  /** Refuse a jump whose rel32 does not reach the new function. */
  readonly reachCheck: boolean;
}

/**
 * The default deny-list: the live-patch rendezvous and patching paths, the
 * idle loop that carries it, the copy routines the patcher itself uses, and
 * the NMI/MCE paths ("not safely patchable", reference §5.6).
 */
export const DEFAULT_DENY_LIST: readonly string[] = [
  "check_for_livepatch_work",
  "arch/x86/domain.c#idle_loop",
  "idle_loop",
  "do_tasklet",
  "common/livepatch.c#livepatch_do_action",
  "common/livepatch.c#apply_payload",
  "common/livepatch.c#revert_payload",
  "common/livepatch.c#livepatch_spin",
  "arch_livepatch_apply",
  "arch_livepatch_revert",
  "arch_livepatch_quiesce",
  "arch_livepatch_revive",
  "arch_livepatch_post_action",
  "arch_livepatch_mask",
  "arch_livepatch_unmask",
  "memcpy",
  "add_nops",
  "do_nmi",
  "do_machine_check",
  "handle_exception",
  "entry_NMI",
  "entry_MC",
];

/** All of lpkit's checks on, with the default deny-list. */
export const DEFAULT_SAFETY: SafetyOptions = {
  stackCheck: true,
  denyList: DEFAULT_DENY_LIST,
  branchCheck: true,
  reachCheck: true,
};

/** Every check off: behave exactly as Xen 4.17.7. */
export const XEN_EXACT_SAFETY: SafetyOptions = {
  stackCheck: false,
  denyList: [],
  branchCheck: false,
  reachCheck: false,
};

/** A branch inside an old function that lands in the bytes a patch overwrites. */
export interface BranchIntoPatch {
  /** Address of the branch instruction. */
  readonly from: bigint;
  /** Where it lands. */
  readonly to: bigint;
}

/**
 * Finds direct branches of the old function `[oldAddr, oldAddr + oldSize)`
 * whose target lies strictly inside the bytes the patch overwrites (landing
 * on the first byte is fine: that is the new jump). `code` holds the old
 * function's bytes.
 *
 * @example
 * ```ts
 * import { branchesIntoPatch } from "@lpkit/livepatch-core";
 * import assert from "node:assert/strict";
 * // 0: jmp 2 (eb 00) lands inside the 5 bytes a jump at 0 overwrites.
 * const code = new Uint8Array([0xeb, 0x00, 0x90, 0x90, 0x90, 0xc3]);
 * const hits = branchesIntoPatch({ oldAddr: 0x1000n, oldSize: 6, newAddr: 0x2000n, newSize: 1 }, code, true);
 * assert.equal(hits[0].to, 0x1002n);
 * ```
 */
export function branchesIntoPatch(
  func: Pick<PreparedFunc, "oldAddr" | "oldSize" | "newAddr" | "newSize">,
  code: Uint8Array,
  endbrAware: boolean,
): BranchIntoPatch[] {
  const offset = endbrAware ? patchOffset(code) : 0;
  const length = func.newAddr !== 0n ? JMP_REL32_LENGTH : Math.max(0, func.newSize - offset);
  const start = func.oldAddr + BigInt(offset);
  const end = start + BigInt(length);
  const out: BranchIntoPatch[] = [];
  let at = 0;
  while (at < code.length) {
    const ins = decodeBytes(
      code.subarray(at, Math.min(at + 15, code.length)),
      func.oldAddr + BigInt(at),
    );
    if (
      (ins.flow === FlowControl.ConditionalBranch || ins.flow === FlowControl.UnconditionalBranch ||
        ins.flow === FlowControl.Call) && !Number.isNaN(ins.target)
    ) {
      const to = BigInt.asUintN(64, BigInt(ins.target));
      if (to > start && to < end) out.push({ from: func.oldAddr + BigInt(at), to });
    }
    at += ins.len;
  }
  return out;
}

/** Where a CPU holds an address inside code being changed. */
export interface StackHazard {
  /** The CPU. */
  readonly cpu: number;
  /** How it was found: the exact call chain or the conservative stack scan. */
  readonly source: "call chain" | "stack scan";
  /** The address held (rip or a return address). */
  readonly address: bigint;
  /** The stack slot it was found in (stack scan only). */
  readonly slot?: bigint;
  /** The function it lies in, symbolized (`file.c#func+0x12/0x40`). */
  readonly where: string;
  /** The payload function entry whose range it hits. */
  readonly range: { readonly start: bigint; readonly end: bigint; readonly name: string };
}

/** A code range an action changes. */
export interface ChangedRange {
  readonly start: bigint;
  readonly end: bigint;
  /** What it is, e.g. `xen_extra_version (old)`. */
  readonly name: string;
}

/**
 * The stack safety check: returns every place where a CPU's call chain or
 * stack words point into a changed range.
 *
 * @example
 * ```ts
 * import { findStackHazards } from "@lpkit/livepatch-core";
 * import assert from "node:assert/strict";
 * const hazards = findStackHazards(
 *   [{ start: 0x1000n, end: 0x1010n, name: "f" }],
 *   [{ cpu: 2, chain: [0x5000n, 0x1008n], scan: [] }],
 *   (a) => `0x${a.toString(16)}`,
 * );
 * assert.equal(hazards[0].cpu, 2);
 * assert.equal(hazards[0].source, "call chain");
 * ```
 */
export function findStackHazards(
  ranges: readonly ChangedRange[],
  cpus: readonly {
    readonly cpu: number;
    readonly chain: readonly bigint[];
    readonly scan: readonly { slot: bigint; address: bigint }[];
  }[],
  symbolize: (address: bigint) => string,
): StackHazard[] {
  const out: StackHazard[] = [];
  const hit = (a: bigint) => ranges.find((r) => a >= r.start && a < r.end);
  for (const c of cpus) {
    const seen = new Set<bigint>();
    for (const a of c.chain) {
      const r = hit(a);
      if (r === undefined) continue;
      seen.add(a);
      out.push({ cpu: c.cpu, source: "call chain", address: a, where: symbolize(a), range: r });
    }
    for (const w of c.scan) {
      const r = hit(w.address);
      if (r === undefined || seen.has(w.address)) continue;
      out.push({
        cpu: c.cpu,
        source: "stack scan",
        address: w.address,
        slot: w.slot,
        where: symbolize(w.address),
        range: r,
      });
    }
  }
  return out;
}
