/**
 * `struct livepatch_func`: the entries of `.livepatch.funcs`, in the seed's
 * version 1 layout (64 bytes, Xen 4.7–4.13) and Xen 4.14+'s version 2
 * layout (104 bytes, with an expectation). Reference §1.3 and §9.
 *
 * @module
 */

/** Layout constants of one `struct livepatch_func` version. */
export interface FuncLayout {
  /** The `version` byte entries of this layout carry. */
  readonly version: 1 | 2;
  /** Size of one entry in bytes (the array stride). */
  readonly size: number;
}

/** The seed's layout: name, new_addr, old_addr, new_size, old_size, version, opaque[31]. */
export const FUNC_V1: FuncLayout = { version: 1, size: 64 };
/** Xen 4.14+'s layout: v1's first 33 bytes, `_pad[39]`, then `expect` (32 bytes) at 72. */
export const FUNC_V2: FuncLayout = { version: 2, size: 104 };

/** Field offsets shared by both layouts (x86-64). */
export const FUNC_FIELD = {
  name: 0,
  newAddr: 8,
  oldAddr: 16,
  newSize: 24,
  oldSize: 28,
  version: 32,
  /** v1: `opaque[31]`; v2: `_pad[39]`. */
  pad: 33,
  /** v2 only: `struct livepatch_expectation`. */
  expect: 72,
} as const;

/** Longest expectation and NOP run Xen supports (`LIVEPATCH_OPAQUE_SIZE`). */
export const LIVEPATCH_OPAQUE_SIZE = 31;

/** `struct livepatch_expectation` (v2 only): bytes the old function must start with. */
export interface FuncExpectation {
  /** Bit 0 of byte 72: whether Xen compares at all. */
  readonly enabled: boolean;
  /** Bits 1–5: how many bytes to compare (0..31). */
  readonly len: number;
  /** Bits 6–7: reserved; Xen rejects non-zero with -EINVAL at apply. */
  readonly rsv: number;
  /** The 31 bytes of `data` (only the first `len` matter). */
  readonly data: Uint8Array;
}

/** The raw fields of one entry, as stored in the file (before relocation). */
export interface RawFunc {
  /** Entry number in the array. */
  readonly index: number;
  /** Byte offset of the entry in `.livepatch.funcs`. */
  readonly offset: number;
  /** `name` pointer as stored (0 in relocatable payloads: a relocation fills it). */
  readonly name: bigint;
  /** `new_addr` as stored. */
  readonly newAddr: bigint;
  /** `old_addr` as stored. */
  readonly oldAddr: bigint;
  /** `new_size`. */
  readonly newSize: number;
  /** `old_size`. */
  readonly oldSize: number;
  /** `version`. */
  readonly version: number;
  /** v1 `opaque[31]` or v2 `_pad[39]`: should be zero in a fresh payload. */
  readonly pad: Uint8Array;
  /** v2 only. */
  readonly expect: FuncExpectation | undefined;
}

/**
 * Picks the layout of a `.livepatch.funcs` section from the `version` byte of
 * its first entry (offset 32 in both layouts), as reference §9 advises.
 * Returns undefined when the section is too short or the version unknown.
 *
 * @example
 * ```ts
 * import { detectFuncLayout, FUNC_V2 } from "@lpkit/livepatch-core";
 * import assert from "node:assert/strict";
 * const section = new Uint8Array(104);
 * section[32] = 2;
 * assert.equal(detectFuncLayout(section), FUNC_V2);
 * ```
 */
export function detectFuncLayout(section: Uint8Array): FuncLayout | undefined {
  if (section.length <= FUNC_FIELD.version) return undefined;
  const version = section[FUNC_FIELD.version];
  return version === 1 ? FUNC_V1 : version === 2 ? FUNC_V2 : undefined;
}

/**
 * Decodes every entry of a `.livepatch.funcs` section in `layout`; a
 * trailing partial entry is ignored (callers check `length % size`).
 *
 * @example Reading a v2 entry's sizes and expectation
 * ```ts
 * import { decodeFuncs, FUNC_V2 } from "@lpkit/livepatch-core";
 * import assert from "node:assert/strict";
 * const section = new Uint8Array(104);
 * const view = new DataView(section.buffer);
 * view.setUint32(24, 12, true); // new_size
 * view.setUint32(28, 16, true); // old_size
 * section[32] = 2;
 * section[72] = 0x11; // enabled, len 8
 * const [func] = decodeFuncs(section, FUNC_V2);
 * assert.deepEqual([func.newSize, func.oldSize, func.expect?.enabled, func.expect?.len], [12, 16, true, 8]);
 * ```
 */
export function decodeFuncs(section: Uint8Array, layout: FuncLayout): RawFunc[] {
  const view = new DataView(section.buffer, section.byteOffset, section.byteLength);
  const count = Math.floor(section.length / layout.size);
  const out: RawFunc[] = [];
  for (let i = 0; i < count; i++) {
    const at = i * layout.size;
    let expect: FuncExpectation | undefined;
    if (layout.version === 2) {
      const bits = section[at + FUNC_FIELD.expect];
      expect = {
        enabled: (bits & 1) === 1,
        len: (bits >> 1) & 0x1f,
        rsv: bits >> 6,
        data: section.subarray(at + FUNC_FIELD.expect + 1, at + layout.size),
      };
    }
    out.push({
      index: i,
      offset: at,
      name: view.getBigUint64(at + FUNC_FIELD.name, true),
      newAddr: view.getBigUint64(at + FUNC_FIELD.newAddr, true),
      oldAddr: view.getBigUint64(at + FUNC_FIELD.oldAddr, true),
      newSize: view.getUint32(at + FUNC_FIELD.newSize, true),
      oldSize: view.getUint32(at + FUNC_FIELD.oldSize, true),
      version: section[at + FUNC_FIELD.version],
      pad: section.subarray(
        at + FUNC_FIELD.pad,
        at + (layout.version === 2 ? FUNC_FIELD.expect : layout.size),
      ),
      expect,
    });
  }
  return out;
}
