/**
 * The mapping from the packages' error classes (and {@linkcode CliError}) to
 * the one line and the `lpkit.error/1` report. Separate from `errors.ts`
 * because it imports the packages, which a command that does not use them
 * must not pay for loading. The signer's errors are mapped by
 * `signatures.ts` (`describeSignatureError`), so that a host command does not
 * load the signer and node-forge.
 *
 * @module
 */
import { ElfError } from "@lpkit/elf";
import { BudgetExceeded, HypervisorCrash, LivepatchError } from "@lpkit/livepatch-core";
import {
  CliError,
  describeCliError,
  type ErrorReport,
  errorReport,
  exitCodeForErrno,
} from "./errors.ts";

/**
 * Turns a thrown value into an {@linkcode ErrorReport} when it is a user
 * error of a known kind; undefined for anything else (a bug, which the
 * runtime reports with its stack).
 *
 * @example
 * ```ts
 * import { describeError } from "@lpkit/cli";
 * import { LivepatchError } from "@lpkit/livepatch-core";
 * import assert from "node:assert/strict";
 * const r = describeError(new LivepatchError("EBUSY", "TOP", "hello is not the top"));
 * assert.equal(r?.exitCode, 2);
 * assert.equal(r?.errno, -16);
 * ```
 */
export function describeError(e: unknown): ErrorReport | undefined {
  if (e instanceof CliError) return describeCliError(e);
  if (e instanceof LivepatchError) {
    return errorReport(
      e.code,
      e.message,
      exitCodeForErrno(e.errno),
      e.errno,
      e.errnoName,
      hintFor(e),
    );
  }
  if (e instanceof ElfError) {
    return errorReport(e.code, `invalid ELF file: ${e.message} [${e.code}]`, 1);
  }
  if (e instanceof HypervisorCrash) {
    return errorReport(
      e.code,
      e.message,
      1,
      undefined,
      undefined,
      "the host is dead: `lpkit host reset` reboots it (history is dropped)",
    );
  }
  if (e instanceof BudgetExceeded) {
    return errorReport(
      e.code,
      e.message,
      1,
      undefined,
      undefined,
      "raise --budget if the function is expected to run longer",
    );
  }
  return undefined;
}

/** Hints for the live-patch errors users meet most. */
function hintFor(e: LivepatchError): string | undefined {
  switch (e.code) {
    case "DEPENDS":
    case "X2":
      return "rebuild the payload against this hypervisor (or the payload below it), or apply with --nodeps";
    case "TOP":
      return "revert the payloads applied above it first (see `lpkit list`)";
    case "TIMEOUT":
    case "STACK":
      return "retry later, or with a longer --timeout";
    case "PENDING":
      return "wait for the action in progress (`lpkit host run`), then retry";
    case "REAPPLY":
      return "unload it and upload it again";
    case "DENY":
      return "the function is on lpkit's deny-list; `host init --no-deny-list` turns it off";
    default:
      return undefined;
  }
}
