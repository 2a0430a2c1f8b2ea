/**
 * Errors the CLI reports as one line, with the exit code to use, and the
 * mapping from the packages' error classes to that line and to the
 * `lpkit.error/1` JSON document.
 *
 * @module
 */
import { ElfError } from "@lpkit/elf";
import { BudgetExceeded, HypervisorCrash, LivepatchError } from "@lpkit/livepatch-core";
import { SignatureError } from "@lpkit/signer";

/**
 * A user error: bad arguments, unreadable file, invalid payload, a broken
 * state folder. Printed as one line (never a stack trace) and ends the
 * command with `exitCode`.
 *
 * @example
 * ```ts
 * import { CliError } from "@lpkit/cli";
 * import assert from "node:assert/strict";
 * const e = new CliError("USAGE", "inspect needs a payload file");
 * assert.equal(e.exitCode, 1);
 * ```
 */
export class CliError extends Error {
  /** A stable code: `USAGE`, `IO`, `STATE_*`, or the code of the underlying error. */
  readonly code: string;
  /** The process exit code: 1 for errors, 2 where Xen's tool says "retry". */
  readonly exitCode: number;
  /** What to do about it, when lpkit knows. */
  readonly hint: string | undefined;

  constructor(code: string, message: string, exitCode = 1, hint?: string) {
    super(message);
    this.name = "CliError";
    this.code = code;
    this.exitCode = exitCode;
    this.hint = hint;
  }
}

/** The `error` object of every `--json` failure (schema `lpkit.error/1`). */
export interface ErrorReport {
  /** Stable code: `USAGE`, `ENOENT`, `STATE_CORRUPT`, a check id such as `X2`, `CRASHED`, ... */
  code: string;
  /** The message, one line. */
  message: string;
  /** The Xen errno name (`EINVAL`) when Xen would return one, else null. */
  errnoName: string | null;
  /** The errno as Xen returns it (negative), else null. */
  errno: number | null;
  /** What to do about it, or null. */
  hint: string | null;
  /** The exit code: 1, or 2 for EAGAIN/EBUSY (retry). */
  exitCode: number;
}

/** Xen's tool exits 2 ("retry") for EAGAIN and EBUSY, 1 for everything else. */
export function exitCodeForErrno(errno: number): number {
  const n = Math.abs(errno);
  return n === 0 ? 0 : n === 11 || n === 16 ? 2 : 1;
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, " ").trim();
}

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
  const report = (
    code: string,
    message: string,
    exitCode: number,
    errno?: number,
    errnoName?: string,
    hint?: string,
  ): ErrorReport => ({
    code,
    message: oneLine(message),
    errnoName: errnoName ?? null,
    errno: errno ?? null,
    hint: hint === undefined ? null : oneLine(hint),
    exitCode,
  });
  if (e instanceof CliError) {
    const errno = (e as { errno?: number }).errno;
    return report(e.code, e.message, e.exitCode, errno, undefined, e.hint);
  }
  if (e instanceof LivepatchError) {
    return report(
      e.code,
      e.message,
      exitCodeForErrno(e.errno),
      e.errno,
      e.errnoName,
      hintFor(e),
    );
  }
  if (e instanceof ElfError) {
    return report(e.code, `invalid ELF file: ${e.message} [${e.code}]`, 1);
  }
  if (e instanceof SignatureError) {
    return report(e.code, `${e.message} [${e.code}]`, 1);
  }
  if (e instanceof HypervisorCrash) {
    return report(
      e.code,
      e.message,
      1,
      undefined,
      undefined,
      "the host is dead: `lpkit host reset` reboots it (history is dropped)",
    );
  }
  if (e instanceof BudgetExceeded) {
    return report(
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

/**
 * The one line printed on standard error for a user error.
 *
 * @example
 * ```ts
 * import { describeError, errorLine } from "@lpkit/cli";
 * import { CliError } from "@lpkit/cli";
 * import assert from "node:assert/strict";
 * const line = errorLine("list", describeError(new CliError("STATE_MISSING", "no host", 1, "run lpkit host init"))!);
 * assert.equal(line, "lpkit list: no host (hint: run lpkit host init)\n");
 * ```
 */
export function errorLine(command: string, r: ErrorReport): string {
  return `lpkit ${command}: ${r.message}${r.hint === null ? "" : ` (hint: ${r.hint})`}\n`;
}
