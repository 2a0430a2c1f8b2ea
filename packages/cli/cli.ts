/**
 * The `lpkit` command: argument parsing, dispatch, and one-line errors.
 *
 * @module
 */
import { ElfError } from "@lpkit/elf";
import { parseArgs } from "node:util";
import { inspectPayload, renderInspect } from "./commands/inspect.ts";
import { CliError } from "./errors.ts";
import { style, toJson } from "./format.ts";
import type { Io } from "./platform.ts";

const USAGE = `lpkit: a toolchain and verifier for Xen live-patch payloads

Usage: lpkit <command> [options]

Commands:
  inspect <payload> [--json]   Show a payload's funcs, build-ids, hooks, metadata,
                               sections and relocations
  help                         Show this text

Every command takes --help. Exit codes: 0 success, 1 error, 2 retry (busy).
`;

interface Command {
  summary: string;
  usage: string;
  run(args: string[], io: Io): number;
}

type OptionSpec = Record<
  string,
  { type: "boolean" | "string"; short?: string; multiple?: boolean }
>;

function parse<T extends OptionSpec>(args: string[], usage: string, options: T) {
  try {
    return parseArgs({
      args,
      options: { ...options, help: { type: "boolean", short: "h" } } as T & {
        help: { type: "boolean"; short: "h" };
      },
      allowPositionals: true,
      strict: true,
    });
  } catch (e) {
    throw new CliError("USAGE", `${(e as Error).message}\n\n${usage}`);
  }
}

const COMMANDS: Record<string, Command> = {
  inspect: {
    summary: "Show what a payload file says",
    usage: `Usage: lpkit inspect <payload> [--json]

Prints a payload's ELF identity, build-id, depends and xen_depends ids, each
.livepatch.funcs entry field by field (with the relocations that fill its
pointers), hooks, .modinfo metadata, sections and relocations.

Options:
  --json   Print the report as JSON (schema lpkit.inspect/1)

Example:
  lpkit inspect examples/bin/hello.livepatch
`,
    run(args, io) {
      const { values, positionals } = parse(args, this.usage, {
        json: { type: "boolean" as const },
      });
      if (values.help) {
        io.stdout(this.usage);
        return 0;
      }
      if (positionals.length !== 1) {
        throw new CliError("USAGE", `inspect takes exactly one payload file\n\n${this.usage}`);
      }
      const file = positionals[0];
      const report = inspectPayload(file, readInput(io, file));
      io.stdout(values.json ? toJson(report) : renderInspect(report, style(useColor(io))));
      return 0;
    },
  },
};

function useColor(io: Io): boolean {
  return io.isTerminal && io.env("NO_COLOR") === undefined;
}

function readInput(io: Io, file: string): Uint8Array {
  try {
    return io.readFile(file);
  } catch (e) {
    const code = (e as { code?: string }).code ?? "IO";
    throw new CliError(code, `cannot read ${file}: ${(e as Error).message.replace(/\s+/g, " ")}`);
  }
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
 *   env: () => undefined, isTerminal: false };
 * assert.equal(main(["help"], io), 0);
 * assert.match(out, /inspect/);
 * ```
 */
export function main(args: string[], io: Io): number {
  const [name, ...rest] = args;
  if (name === undefined || name === "help" || name === "--help" || name === "-h") {
    io.stdout(USAGE);
    return 0;
  }
  const command = COMMANDS[name];
  if (command === undefined) {
    io.stderr(`lpkit: unknown command '${name}' -- try 'lpkit help'\n`);
    return 1;
  }
  try {
    return command.run(rest, io);
  } catch (e) {
    if (e instanceof CliError) {
      io.stderr(`lpkit ${name}: ${e.message}\n`);
      return e.exitCode;
    }
    if (e instanceof ElfError) {
      io.stderr(`lpkit ${name}: invalid ELF file: ${e.message} [${e.code}]\n`);
      return 1;
    }
    throw e; // a bug: let the runtime print it
  }
}
