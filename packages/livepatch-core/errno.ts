/**
 * Xen's errno values (identical to Linux x86's) and their `strerror` texts,
 * and the error type of the live-patch core.
 *
 * @module
 */

/** The errnos the live-patch paths produce (reference §0). */
export const ERRNO = {
  EPERM: 1,
  ENOENT: 2,
  E2BIG: 7,
  ENOEXEC: 8,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  EINVAL: 22,
  ERANGE: 34,
  ENAMETOOLONG: 36,
  ENOSYS: 38,
  ENODATA: 61,
  EBADMSG: 74,
  EOVERFLOW: 75,
  EOPNOTSUPP: 95,
} as const;

/** An errno's name. */
export type ErrnoName = keyof typeof ERRNO;

const STRERROR: Record<ErrnoName, string> = {
  EPERM: "Operation not permitted",
  ENOENT: "No such file or directory",
  E2BIG: "Argument list too long",
  ENOEXEC: "Exec format error",
  EAGAIN: "Resource temporarily unavailable",
  ENOMEM: "Cannot allocate memory",
  EACCES: "Permission denied",
  EFAULT: "Bad address",
  EBUSY: "Device or resource busy",
  EEXIST: "File exists",
  EINVAL: "Invalid argument",
  ERANGE: "Numerical result out of range",
  ENAMETOOLONG: "File name too long",
  ENOSYS: "Function not implemented",
  ENODATA: "No data available",
  EBADMSG: "Bad message",
  EOVERFLOW: "Value too large for defined data type",
  EOPNOTSUPP: "Operation not supported",
};

const BY_NUMBER = new Map<number, ErrnoName>(
  Object.entries(ERRNO).map(([name, n]) => [n, name as ErrnoName]),
);

/**
 * glibc's `strerror()` text for an errno (positive or negative), as
 * `xen-livepatch` prints it.
 *
 * @example
 * ```ts
 * import { strerror } from "@lpkit/livepatch-core";
 * import assert from "node:assert/strict";
 * assert.equal(strerror(-22), "Invalid argument");
 * ```
 */
export function strerror(errno: number): string {
  const name = BY_NUMBER.get(Math.abs(errno));
  return name === undefined ? `Unknown error ${Math.abs(errno)}` : STRERROR[name];
}

/**
 * The name of an errno (positive or negative), e.g. `EINVAL`.
 *
 * @example
 * ```ts
 * import { errnoName } from "@lpkit/livepatch-core";
 * import assert from "node:assert/strict";
 * assert.equal(errnoName(16), "EBUSY");
 * ```
 */
export function errnoName(errno: number): string {
  return BY_NUMBER.get(Math.abs(errno)) ?? `E${Math.abs(errno)}`;
}

/** Where in a payload a problem lies. */
export interface Place {
  /** Byte offset in the payload file. */
  offset?: number;
  /** Section name. */
  section?: string;
  /** Symbol name. */
  symbol?: string;
  /** Index of the `.livepatch.funcs` entry. */
  func?: number;
}

/**
 * A failed live-patch operation: the errno Xen returns (negative, as the
 * hypercall does), a stable `code` naming the check (the reference's check
 * ids, e.g. `H3`, `R2`, `X2`), a one-line message and the place.
 *
 * @example
 * ```ts
 * import { LivepatchError } from "@lpkit/livepatch-core";
 * import assert from "node:assert/strict";
 * const e = new LivepatchError("EINVAL", "X2", "check against hypervisor build-id failed");
 * assert.equal(e.errno, -22);
 * assert.match(e.message, /EINVAL/);
 * ```
 */
export class LivepatchError extends Error {
  /** The errno name, e.g. `EINVAL`. */
  readonly errnoName: ErrnoName;
  /** The errno as Xen returns it: negative. */
  readonly errno: number;
  /** The stable code of the check that failed. */
  readonly code: string;
  /** The message alone, without errno and place. */
  readonly detail: string;
  /** Where the problem lies. */
  readonly place: Place;

  constructor(errno: ErrnoName, code: string, detail: string, place: Place = {}) {
    const where = [
      place.section,
      place.symbol,
      place.func === undefined ? undefined : `funcs[${place.func}]`,
      place.offset === undefined ? undefined : `offset 0x${place.offset.toString(16)}`,
    ].filter((x) => x !== undefined).join(", ");
    super(`${detail}${where === "" ? "" : ` (${where})`} [-${errno} ${ERRNO[errno]}, ${code}]`);
    this.name = "LivepatchError";
    this.errnoName = errno;
    this.errno = -ERRNO[errno];
    this.code = code;
    this.detail = detail;
    this.place = place;
  }
}
