/**
 * `XEN_SYSCTL_livepatch_op`: the four sub-operations with the semantics of
 * Xen's structures (reference §4, seed "Hypercalls"). Arguments are given as
 * a guest would pass them (a name buffer with its `size` and `pad`, `nr`,
 * `idx`, `timeout` in nanoseconds, `flags`, `pad` fields) so that every rule
 * Xen applies to them can be exercised; results carry the hypercall's return
 * value (`ret`, 0 or a negative errno) and the OUT fields.
 *
 * @module
 */
import { ERRNO } from "./errno.ts";

/** `XEN_SYSCTL_LIVEPATCH_*` sub-operations. */
export const LIVEPATCH_OP = { UPLOAD: 0, GET: 1, LIST: 2, ACTION: 3 } as const;
/** `LIVEPATCH_ACTION_*` commands. */
export const LIVEPATCH_ACTION = { UNLOAD: 1, REVERT: 2, APPLY: 3, REPLACE: 4 } as const;
/** `LIVEPATCH_STATE_*` (the seed calls them `LIVEPATCH_STATUS_*`). */
export const LIVEPATCH_STATE = { CHECKED: 1, APPLIED: 2 } as const;
/** `LIVEPATCH_ACTION_APPLY_NODEPS`: apply without checking the build-id chain. */
export const LIVEPATCH_ACTION_APPLY_NODEPS = 1;
/** `XEN_LIVEPATCH_NAME_SIZE`: longest name, including its NUL. */
export const XEN_LIVEPATCH_NAME_SIZE = 128;
/** `XEN_SYSCTL_INTERFACE_VERSION` of Xen 4.17. */
export const XEN_SYSCTL_INTERFACE_VERSION = 0x15;
/** Largest `nr` LIST accepts (`LIVEPATCH_MAX_LIST`... Xen compares against 1024). */
export const LIVEPATCH_LIST_MAX = 1024;
/** Default action timeout: 30 ms, in nanoseconds (`MILLISECS(30)`). */
export const DEFAULT_TIMEOUT_NS = 30_000_000;

/**
 * `struct xen_livepatch_name` as the guest passes it: the bytes at the
 * handle (undefined for a handle Xen cannot read), `size` and `pad[3]`.
 */
export interface NameArg {
  /** The bytes the handle points to; undefined models an unreadable handle (-EFAULT). */
  readonly buffer: Uint8Array | undefined;
  /** `size`: bytes to copy, NUL included. */
  readonly size: number;
  /** `pad[3]`, which must be zero. */
  readonly pad?: readonly [number, number, number];
}

/**
 * The name argument libxenctrl builds: the string, its NUL, `size = strlen + 1`.
 *
 * @example
 * ```ts
 * import { nameArg } from "@lpkit/livepatch-core";
 * import assert from "node:assert/strict";
 * assert.equal(nameArg("hello").size, 6);
 * ```
 */
export function nameArg(name: string): NameArg {
  const bytes = new TextEncoder().encode(name);
  const buffer = new Uint8Array(bytes.length + 1);
  buffer.set(bytes);
  return { buffer, size: buffer.length };
}

/** UPLOAD: `struct xen_sysctl_livepatch_upload`. */
export interface UploadOp {
  readonly cmd: typeof LIVEPATCH_OP.UPLOAD;
  readonly name: NameArg;
  /** `size` of the payload (defaults to the buffer's length). */
  readonly size?: number;
  /** The payload bytes at the handle; undefined models an unreadable handle. */
  readonly payload: Uint8Array | undefined;
}

/** GET: `struct xen_sysctl_livepatch_get`. */
export interface GetOp {
  readonly cmd: typeof LIVEPATCH_OP.GET;
  readonly name: NameArg;
}

/** LIST: the IN fields of `struct xen_sysctl_livepatch_list`. */
export interface ListOp {
  readonly cmd: typeof LIVEPATCH_OP.LIST;
  /** Index of the first payload to report. */
  readonly idx: number;
  /** Maximum number of entries; 0 probes the sizes. */
  readonly nr: number;
  /** Must be zero. */
  readonly listPad?: number;
}

/** ACTION: `struct xen_sysctl_livepatch_action`. */
export interface ActionOp {
  readonly cmd: typeof LIVEPATCH_OP.ACTION;
  readonly name: NameArg;
  /** `LIVEPATCH_ACTION_*`. */
  readonly action: number;
  /** Nanoseconds (u32); 0 means the 30 ms default. */
  readonly timeout?: number;
  /** `LIVEPATCH_ACTION_APPLY_NODEPS`; other bits are ignored, as in 4.17. */
  readonly flags?: number;
  /** `action.pad`, which must be zero. */
  readonly actionPad?: number;
}

/** Any sub-operation, or an unknown one (-EOPNOTSUPP). */
export type LivepatchOp = UploadOp | GetOp | ListOp | ActionOp | {
  readonly cmd: number;
};

/** A whole `XEN_SYSCTL_livepatch_op` hypercall. */
export interface SysctlRequest {
  /** The calling domain; only the control domain may use live patching (default XSM policy). */
  readonly domid: number;
  /** `interface_version`; defaults to 4.17's. */
  readonly interfaceVersion?: number;
  /** `xen_sysctl_livepatch_op.pad`, which must be zero. */
  readonly pad?: number;
  /** The sub-operation. */
  readonly op: LivepatchOp;
}

/** `struct xen_livepatch_status`. */
export interface LivepatchStatus {
  /** `LIVEPATCH_STATE_CHECKED` (1) or `LIVEPATCH_STATE_APPLIED` (2). */
  readonly state: number;
  /** 0, -EAGAIN while an action is pending, or the last action's error. */
  readonly rc: number;
}

/** One LIST entry. */
export interface ListEntry {
  readonly status: LivepatchStatus;
  /** The name (without NUL). */
  readonly name: string;
  /** `len[k]`: strlen(name) + 1. */
  readonly len: number;
  /** The raw `.modinfo` bytes (NUL-separated strings). */
  readonly metadata: Uint8Array;
  /** `metadata_len[k]`. */
  readonly metadataLen: number;
}

/** What a LIST call returns. */
export interface ListResult {
  /** Number of entries copied, or a negative errno. */
  readonly ret: number;
  /** `version`: bumped by every upload and unload. */
  readonly version: number;
  /** `nr` OUT: payloads remaining after the ones visited. */
  readonly nr: number;
  /** `name_total_size` OUT. */
  readonly nameTotalSize: number;
  /** `metadata_total_size` OUT. */
  readonly metadataTotalSize: number;
  /** The entries copied. */
  readonly entries: readonly ListEntry[];
}

/** The result of any sub-operation. */
export interface SysctlResult {
  /** The hypercall's return value: 0 (or a LIST count) or a negative errno. */
  readonly ret: number;
  /** GET: the payload's status. */
  readonly status?: LivepatchStatus;
  /** LIST: the OUT fields. */
  readonly list?: ListResult;
}

/** `get_name`'s verdict: the effective name, or a negative errno. */
export type NameCheck = { ok: true; name: string } | { ok: false; errno: number };

/**
 * Xen's `get_name` (reference §2.3): `size` 1..128, `pad` zero, a readable
 * buffer whose byte `size - 1` is NUL; the effective name stops at the first
 * NUL (embedded NULs are allowed).
 *
 * @example
 * ```ts
 * import { checkName, nameArg } from "@lpkit/livepatch-core";
 * import assert from "node:assert/strict";
 * assert.deepEqual(checkName(nameArg("x".repeat(127))), { ok: true, name: "x".repeat(127) });
 * assert.deepEqual(checkName(nameArg("x".repeat(128))), { ok: false, errno: -22 });
 * ```
 */
export function checkName(arg: NameArg): NameCheck {
  const einval = { ok: false, errno: -ERRNO.EINVAL } as const;
  if (arg.size === 0 || arg.size > XEN_LIVEPATCH_NAME_SIZE) return einval;
  if (arg.pad !== undefined && arg.pad.some((p) => p !== 0)) return einval;
  if (arg.buffer === undefined || arg.buffer.length < arg.size) {
    return { ok: false, errno: -ERRNO.EFAULT };
  }
  if (arg.buffer[arg.size - 1] !== 0) return einval;
  const nul = arg.buffer.indexOf(0);
  return { ok: true, name: new TextDecoder("latin1").decode(arg.buffer.subarray(0, nul)) };
}
