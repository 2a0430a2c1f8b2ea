/**
 * Exact per-CPU call chains and conservative stack scans.
 *
 * The chain is maintained by `call`, `ret`, interrupt delivery and `iretq`. A frame remembers the
 * stack slot of its return address; `ret` pops the frame whose slot it reads. When the return
 * address in that slot was overwritten (Xen's retpoline `__x86_indirect_thunk_*` does
 * `mov %reg,(%rsp); ret`), the `ret` is really an indirect jump: the inner frame is dropped and
 * the enclosing frame's target becomes the new address (emulation.md §5, "Indirect calls use
 * retpolines").
 *
 * @module
 */

/** One active call (or interrupt) on a CPU. */
export interface CallFrame {
  /** `call` or `interrupt`. */
  kind: "call" | "interrupt";
  /** Address of the call instruction (or the interrupted instruction). */
  site: number;
  /** Called function (updated when reached through a retpoline). */
  target: number;
  /** Return address pushed by the call. */
  returnAddress: number;
  /** Linear address of the stack slot holding the return address. */
  slot: number;
}

/**
 * Tracks the exact call chain of one CPU.
 *
 * @example
 * ```ts
 * import { CallTracker } from "@lpkit/x86-emu";
 * import assert from "node:assert/strict";
 * const t = new CallTracker();
 * t.onCall(0x100, 0x200, 0x105, 0x7ff8);
 * assert.deepEqual(t.backtrace(0x210), [0x210, 0x105]);
 * t.onReturn(0x7ff8, 0x105);
 * assert.equal(t.frames.length, 0);
 * ```
 */
export class CallTracker {
  /** Active frames, outermost first. */
  readonly frames: CallFrame[] = [];
  /** Maximum depth kept (older frames are dropped, keeping memory bounded on long runs). */
  maxDepth = 4096;
  /** Popped frame objects reused by later calls (calls and returns allocate nothing). */
  readonly #free: CallFrame[] = [];

  #push(kind: "call" | "interrupt", site: number, target: number, ret: number, slot: number) {
    const f = this.frames;
    if (f.length >= this.maxDepth) f.shift();
    const o = this.#free.pop();
    if (o === undefined) f.push({ kind, site, target, returnAddress: ret, slot });
    else {
      o.kind = kind;
      o.site = site;
      o.target = target;
      o.returnAddress = ret;
      o.slot = slot;
      f.push(o);
    }
  }

  #release(o: CallFrame): void {
    if (this.#free.length < 64) this.#free.push(o);
  }

  /** Record a call. */
  onCall(site: number, target: number, returnAddress: number, slot: number): void {
    this.#push("call", site, target, returnAddress, slot);
  }

  /** Record an interrupt frame (its `slot` is the saved-RIP slot). */
  onInterrupt(site: number, target: number, slot: number): void {
    this.#push("interrupt", site, target, site, slot);
  }

  /**
   * Record a `ret` (or `iretq`) reading its return address `value` from `slot`.
   * Frames below the slot (abandoned by a longjmp-like stack switch) are discarded as well.
   */
  onReturn(slot: number, value: number): void {
    const f = this.frames;
    while (f.length > 0 && f[f.length - 1]!.slot < slot) this.#release(f.pop()!);
    const top = f[f.length - 1];
    if (top === undefined || top.slot !== slot) return;
    f.pop();
    if (value !== top.returnAddress) {
      // Retpoline: the return address was replaced; this ret is an indirect jump.
      const parent = f[f.length - 1];
      if (parent !== undefined) parent.target = value;
    }
    this.#release(top);
  }

  /** Forget everything (new call from the host). */
  reset(): void {
    this.frames.length = 0;
  }

  /**
   * Backtrace as addresses: the current rip, then each return address, innermost first.
   *
   * @param rip Current instruction pointer (canonical number).
   */
  backtrace(rip: number): number[] {
    const out = [rip];
    for (let k = this.frames.length - 1; k >= 0; k--) out.push(this.frames[k]!.returnAddress);
    return out;
  }
}

/** A text range for conservative scans (canonical numbers, end exclusive). */
export interface TextRange {
  /** Start. */
  start: number;
  /** End (exclusive). */
  end: number;
}

/**
 * Conservative scan: every 8-byte-aligned stack word in [rsp, top) whose value lies in one of the
 * text ranges. Unreadable words end the scan.
 *
 * @param read Reads a u64 at a canonical address as a canonical number (NaN if not canonical).
 * @param rsp Stack pointer (canonical number).
 * @param top End of the stack (exclusive).
 * @param ranges Text ranges.
 * @returns Candidate return addresses with the slot they were found in, innermost first.
 *
 * @example
 * ```ts
 * import { scanStack } from "@lpkit/x86-emu";
 * import assert from "node:assert/strict";
 * const words = new Map([[0x1000, 5], [0x1008, 0x4010], [0x1010, 0x9999]]);
 * const hits = scanStack((a) => words.get(a) ?? 0, 0x1000, 0x1018, [{ start: 0x4000, end: 0x5000 }]);
 * assert.deepEqual(hits, [{ slot: 0x1008, address: 0x4010 }]);
 * ```
 */
export function scanStack(
  read: (a: number) => number,
  rsp: number,
  top: number,
  ranges: readonly TextRange[],
): { slot: number; address: number }[] {
  const out: { slot: number; address: number }[] = [];
  for (let a = Math.ceil(rsp / 8) * 8; a + 8 <= top; a += 8) {
    let v: number;
    try {
      v = read(a);
    } catch {
      break;
    }
    for (const r of ranges) {
      if (v >= r.start && v < r.end) {
        out.push({ slot: a, address: v });
        break;
      }
    }
  }
  return out;
}
