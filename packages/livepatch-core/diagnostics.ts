/**
 * Strict and collecting modes of the loader's checks. Xen stops at the
 * first failed check; `lpkit check` wants every finding at once. Checks run
 * inside {@linkcode attempt}: without a `report` sink a failure throws (the
 * host's upload), with one it is recorded and the check moves on to the next
 * entry (the offline verifier).
 *
 * @module
 */
import { LivepatchError } from "./errno.ts";

/** Receives each failed check in collecting mode. */
export type Report = (error: LivepatchError) => void;

/**
 * Runs one check. Returns true when it passed; in collecting mode a
 * {@linkcode LivepatchError} is reported and false returned, otherwise it
 * propagates. Other exceptions always propagate.
 *
 * @example
 * ```ts
 * import { attempt, LivepatchError } from "@lpkit/livepatch-core";
 * import assert from "node:assert/strict";
 * const seen: string[] = [];
 * const ok = attempt((e) => seen.push(e.code), () => {
 *   throw new LivepatchError("EINVAL", "P3", "bad");
 * });
 * assert.equal(ok, false);
 * assert.deepEqual(seen, ["P3"]);
 * ```
 */
export function attempt(report: Report | undefined, check: () => void): boolean {
  if (report === undefined) {
    check();
    return true;
  }
  try {
    check();
    return true;
  } catch (e) {
    if (!(e instanceof LivepatchError)) throw e;
    report(e);
    return false;
  }
}
