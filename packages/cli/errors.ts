/**
 * Errors the CLI reports as one line, with the exit code to use.
 *
 * @module
 */

/**
 * A user error: bad arguments, unreadable file, invalid payload. Printed as
 * one line (never a stack trace) and ends the command with `exitCode`.
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
  /** A stable code: `USAGE`, `IO`, or the code of the underlying error. */
  readonly code: string;
  /** The process exit code: 1 for errors, 2 where Xen's tool says "retry". */
  readonly exitCode: number;

  constructor(code: string, message: string, exitCode = 1) {
    super(message);
    this.name = "CliError";
    this.code = code;
    this.exitCode = exitCode;
  }
}
