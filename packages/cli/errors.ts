/**
 * Errors the CLI reports as one line, with the exit code to use, and the
 * `lpkit.error/1` report of a {@linkcode CliError}. Imports no package, so
 * that every command can load it cheaply; the packages' error classes are
 * mapped in `describe_error.ts`.
 *
 * @module
 */

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

/**
 * Xen's tool exits 2 ("retry") for EAGAIN and EBUSY, 1 for everything else.
 *
 * @example
 * ```ts
 * import { exitCodeForErrno } from "@lpkit/cli";
 * import assert from "node:assert/strict";
 * assert.equal(exitCodeForErrno(0), 0);
 * assert.equal(exitCodeForErrno(-16), 2); // EBUSY: retry
 * assert.equal(exitCodeForErrno(-22), 1); // EINVAL
 * ```
 */
export function exitCodeForErrno(errno: number): number {
  const n = Math.abs(errno);
  return n === 0 ? 0 : n === 11 || n === 16 ? 2 : 1;
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, " ").trim();
}

/**
 * An {@linkcode ErrorReport}, with the message and hint made one line.
 *
 * @example
 * ```ts
 * import { errorReport } from "@lpkit/cli";
 * import assert from "node:assert/strict";
 * const r = errorReport("IO", "cannot read\n  x", 1);
 * assert.equal(r.message, "cannot read x");
 * assert.equal(r.errno, null);
 * ```
 */
export function errorReport(
  code: string,
  message: string,
  exitCode: number,
  errno?: number,
  errnoName?: string,
  hint?: string,
): ErrorReport {
  return {
    code,
    message: oneLine(message),
    errnoName: errnoName ?? null,
    errno: errno ?? null,
    hint: hint === undefined ? null : oneLine(hint),
    exitCode,
  };
}

/**
 * The {@linkcode ErrorReport} of a {@linkcode CliError} (its `errno`, when a
 * command attached one, included).
 *
 * @example
 * ```ts
 * import { CliError, describeCliError } from "@lpkit/cli";
 * import assert from "node:assert/strict";
 * const r = describeCliError(new CliError("STATE_MISSING", "no host", 1, "run lpkit host init"));
 * assert.equal(r.hint, "run lpkit host init");
 * ```
 */
export function describeCliError(e: CliError): ErrorReport {
  const errno = (e as { errno?: number }).errno;
  return errorReport(e.code, e.message, e.exitCode, errno, undefined, e.hint);
}

/**
 * The one line printed on standard error for a user error.
 *
 * @example
 * ```ts
 * import { CliError, describeCliError, errorLine } from "@lpkit/cli";
 * import assert from "node:assert/strict";
 * const line = errorLine("list", describeCliError(new CliError("STATE_MISSING", "no host", 1, "run lpkit host init")));
 * assert.equal(line, "lpkit list: no host (hint: run lpkit host init)\n");
 * ```
 */
export function errorLine(command: string, r: ErrorReport): string {
  return `lpkit ${command}: ${r.message}${r.hint === null ? "" : ` (hint: ${r.hint})`}\n`;
}
