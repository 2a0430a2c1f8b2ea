/**
 * What Xen's trap handlers do with a fault in hypervisor or payload code:
 * exception-table fixups (`search_exception_table`: `{s32 addr, s32 cont}`
 * pairs, each relative to its own field) and bug frames (`do_bug_frame`:
 * `ud2` sites described in `.bug_frames.0..3` as run_fn, WARN, BUG and
 * ASSERT). Each loaded payload brings its own tables (its virtual region);
 * the image's come from `__start___ex_table` and `__start_bug_frames`.
 *
 * @module
 */

/** Reads guest memory. */
export type ReadMemory = (address: bigint, length: number) => Uint8Array;

/** One region's tables. */
export interface TrapTables {
  /** Who owns them: `xen` or a payload name. */
  readonly owner: string;
  /** `.ex_table`: [start, end) of 8-byte entries. */
  readonly exTable?: { readonly start: bigint; readonly end: bigint };
  /** `.bug_frames.N`: [start, end) for N = 0..3. */
  readonly bugFrames: readonly ({ readonly start: bigint; readonly end: bigint } | undefined)[];
}

/** Bug frame kinds, by section number. */
export const BUG_FRAME_KINDS = ["run_fn", "warn", "bug", "assert"] as const;

/** A decoded bug frame. */
export interface BugFrame {
  readonly kind: typeof BUG_FRAME_KINDS[number];
  /** The `ud2` it describes. */
  readonly location: bigint;
  /** run_fn: the function; others: the file name string. */
  readonly pointer: bigint;
  /** Source line (WARN/BUG/ASSERT). */
  readonly line: number;
  /** ASSERT: the predicate string. */
  readonly message?: bigint;
}

const s24 = (v: number) => (v << 8) >> 8;

function i32(b: Uint8Array, at: number): number {
  return new DataView(b.buffer, b.byteOffset, b.byteLength).getInt32(at, true);
}

/** Looks `rip` up in exception tables; returns the fixup address.
 *
 * @example
 * ```ts
 * import { findFixup } from "@lpkit/livepatch-core";
 * import assert from "node:assert/strict";
 * // One entry at 0x2000: the faulting instruction at 0x1000, the fixup at 0x1100 (each relative).
 * const table = new Uint8Array(8);
 * const v = new DataView(table.buffer);
 * v.setInt32(0, 0x1000 - 0x2000, true);
 * v.setInt32(4, 0x1100 - 0x2004, true);
 * const tables = [{ owner: "p", exTable: { start: 0x2000n, end: 0x2008n }, bugFrames: [] }];
 * assert.equal(findFixup(tables, 0x1000n, () => table), 0x1100n);
 * assert.equal(findFixup(tables, 0x1001n, () => table), undefined);
 * ```
 */
export function findFixup(
  tables: readonly TrapTables[],
  rip: bigint,
  read: ReadMemory,
): bigint | undefined {
  for (const t of tables) {
    const ex = t.exTable;
    if (ex === undefined || ex.end <= ex.start) continue;
    const bytes = read(ex.start, Number(ex.end - ex.start));
    for (let at = 0; at + 8 <= bytes.length; at += 8) {
      const entry = ex.start + BigInt(at);
      const addr = BigInt.asUintN(64, entry + BigInt(i32(bytes, at)));
      if (addr !== rip) continue;
      return BigInt.asUintN(64, entry + 4n + BigInt(i32(bytes, at + 4)));
    }
  }
  return undefined;
}

/** Looks the `ud2` at `rip` up in bug frames.
 *
 * @example
 * ```ts
 * import { findBugFrame } from "@lpkit/livepatch-core";
 * import assert from "node:assert/strict";
 * // A BUG frame (.bug_frames.2) at 0x3000 for the ud2 at 0x3100, file name at 0x3200, line 5.
 * const table = new Uint8Array(8);
 * const v = new DataView(table.buffer);
 * v.setUint32(0, 0x100, true);
 * v.setUint32(4, 0x200 | (5 << 24), true);
 * const frames = [undefined, undefined, { start: 0x3000n, end: 0x3008n }];
 * const frame = findBugFrame([{ owner: "xen", bugFrames: frames }], 0x3100n, () => table);
 * assert.deepEqual(frame, { kind: "bug", location: 0x3100n, pointer: 0x3200n, line: 5, message: undefined });
 * ```
 */
export function findBugFrame(
  tables: readonly TrapTables[],
  rip: bigint,
  read: ReadMemory,
): BugFrame | undefined {
  for (const t of tables) {
    for (let id = 0; id < 4; id++) {
      const r = t.bugFrames[id];
      if (r === undefined || r.end <= r.start) continue;
      const bytes = read(r.start, Number(r.end - r.start));
      for (let at = 0; at + 8 <= bytes.length; at += 8) {
        const frame = r.start + BigInt(at);
        const w0 = i32(bytes, at), w1 = i32(bytes, at + 4);
        const locDisp = s24(w0 & 0xffffff), ptrDisp = s24(w1 & 0xffffff);
        if (BigInt.asUintN(64, frame + BigInt(locDisp)) !== rip) continue;
        const hi = ((w0 >>> 24) & 0x7f) + (locDisp < 0 ? 1 : 0);
        const lo = ((w1 >>> 24) & 0x7f) + (ptrDisp < 0 ? 1 : 0);
        const kind = BUG_FRAME_KINDS[id];
        return {
          kind,
          location: rip,
          pointer: BigInt.asUintN(64, frame + BigInt(ptrDisp)),
          line: ((hi & 0x7f) << 7) + (lo & 0x7f),
          message: kind === "assert" && at + 16 <= bytes.length
            ? BigInt.asUintN(64, frame + BigInt(i32(bytes, at + 12)))
            : undefined,
        };
      }
    }
  }
  return undefined;
}
