/**
 * System errors of file access as glibc names and prints them, for the
 * messages `xen-livepatch` prints (`Could not open x.\nError 2: No such file
 * or directory`). Node reports them by code (`ENOENT`).
 *
 * @module
 */

const SYSTEM_ERRORS: Record<string, [number, string]> = {
  EPERM: [1, "Operation not permitted"],
  ENOENT: [2, "No such file or directory"],
  EIO: [5, "Input/output error"],
  EACCES: [13, "Permission denied"],
  EBUSY: [16, "Device or resource busy"],
  ENOTDIR: [20, "Not a directory"],
  EISDIR: [21, "Is a directory"],
  EINVAL: [22, "Invalid argument"],
  EMFILE: [24, "Too many open files"],
  EFBIG: [27, "File too large"],
  ENAMETOOLONG: [36, "File name too long"],
  ELOOP: [40, "Too many levels of symbolic links"],
};

/**
 * The errno number and glibc text of a Node system error, e.g.
 * `{ code: "ENOENT" }` → `[2, "No such file or directory"]`.
 *
 * @example
 * ```ts
 * import { systemError } from "@lpkit/cli";
 * import assert from "node:assert/strict";
 * assert.deepEqual(systemError({ code: "EACCES" }), [13, "Permission denied"]);
 * ```
 */
export function systemError(e: unknown): [number, string] {
  const code = (e as { code?: string }).code ?? "EIO";
  return SYSTEM_ERRORS[code] ?? [5, `${code}`];
}
