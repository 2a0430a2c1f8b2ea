/**
 * Everything the CLI needs from the runtime, behind one small interface, on
 * `node:*` APIs only: the same code runs under `deno run`, Node and the
 * single-binary build.
 *
 * @module
 */
import { readFileSync } from "node:fs";
import process from "node:process";

/** The CLI's window on the world; tests pass their own. */
export interface Io {
  /** Writes to standard output. */
  stdout(text: string): void;
  /** Writes to standard error. */
  stderr(text: string): void;
  /** Reads a whole file. */
  readFile(path: string): Uint8Array;
  /** An environment variable. */
  env(name: string): string | undefined;
  /** Whether standard output is a terminal (colors, progress). */
  readonly isTerminal: boolean;
}

/**
 * The real process: its streams, files and environment.
 *
 * @example
 * ```ts
 * import { processIo } from "@lpkit/cli";
 * const io = processIo();
 * io.stdout("");
 * ```
 */
export function processIo(): Io {
  return {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    readFile: (path) => readFileSync(path),
    env: (name) => process.env[name],
    isTerminal: process.stdout.isTTY === true && (process.stdout.columns ?? 0) > 0,
  };
}

/**
 * The command-line arguments after the program (and script) name.
 *
 * @example
 * ```ts
 * import { processArgs } from "@lpkit/cli";
 * const args: string[] = processArgs();
 * ```
 */
export function processArgs(): string[] {
  return process.argv.slice(2);
}

/** Ends the process with `code` once output is flushed. */
export function setExitCode(code: number): void {
  process.exitCode = code;
}
