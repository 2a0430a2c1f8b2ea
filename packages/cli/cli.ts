/**
 * The `lpkit` command: dispatch to the registered commands, and one-line errors.
 *
 * @module
 */
import { ElfError } from "@lpkit/elf";
import { COMMANDS } from "./commands.ts";
import { CliError } from "./errors.ts";
import type { Io } from "./platform.ts";

function usage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.synopsis.length)) + 2;
  const lines = COMMANDS.map((c) => `  ${c.synopsis.padEnd(width)}${c.summary}`);
  return `lpkit: a toolchain and verifier for Xen live-patch payloads

Usage: lpkit <command> [options]

Commands:
${lines.join("\n")}
  ${"help".padEnd(width)}Show this text

Every command takes --help. Exit codes: 0 success, 1 error, 2 retry (busy).
`;
}

/** Errors from the packages that are user errors: a stable code and a one-line message. */
function userError(e: unknown): { code: string; message: string; exitCode: number } | undefined {
  if (e instanceof CliError) return { code: e.code, message: e.message, exitCode: e.exitCode };
  if (e instanceof ElfError) {
    return { code: e.code, message: `invalid ELF file: ${e.message} [${e.code}]`, exitCode: 1 };
  }
  return undefined;
}

/**
 * Runs `lpkit` with `args` (without the program name) and returns the exit
 * code. User errors are printed as one line on standard error.
 *
 * @example
 * ```ts
 * import { main } from "@lpkit/cli";
 * import assert from "node:assert/strict";
 * let out = "";
 * const io = { stdout: (s: string) => void (out += s), stderr: () => {}, readFile: () => new Uint8Array(),
 *   writeFile: () => {}, readDir: () => [], isDirectory: () => false, env: () => undefined,
 *   isTerminal: false };
 * assert.equal(main(["help"], io), 0);
 * assert.match(out, /inspect/);
 * ```
 */
export function main(args: string[], io: Io): number {
  const [name, ...rest] = args;
  if (name === undefined || name === "help" || name === "--help" || name === "-h") {
    io.stdout(usage());
    return 0;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (command === undefined) {
    io.stderr(`lpkit: unknown command '${name}' -- try 'lpkit help'\n`);
    return 1;
  }
  try {
    return command.run(rest, io);
  } catch (e) {
    const u = userError(e);
    if (u === undefined) throw e; // a bug: let the runtime print it
    io.stderr(`lpkit ${name}: ${u.message}\n`);
    return u.exitCode;
  }
}
