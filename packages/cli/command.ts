/**
 * What every `lpkit` command is made of: its help text, its options, and a
 * `run` that parses, calls the packages, and prints. Each command lives in
 * `commands/<name>.ts` and is listed in `commands.ts`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { CliError } from "./errors.ts";
import type { Io } from "./platform.ts";

/** One `lpkit` sub-command. */
export interface Command {
  /** The word typed after `lpkit` (exact match). */
  readonly name: string;
  /** One line for `lpkit help`. */
  readonly summary: string;
  /** The synopsis shown in `lpkit help`, e.g. `inspect <payload> [--json]`. */
  readonly synopsis: string;
  /** The full `--help` text, with examples. */
  readonly usage: string;
  /** Runs the command with the arguments after its name; returns the exit code. */
  run(args: string[], io: Io): number;
}

/** The option table of `node:util`'s `parseArgs`. */
export type OptionSpec = Record<
  string,
  { type: "boolean" | "string"; short?: string; multiple?: boolean }
>;

/**
 * Parses a command's arguments strictly; `--help`/`-h` is always accepted.
 * An unknown option or a missing value is a `USAGE` error carrying the usage text.
 *
 * @example
 * ```ts
 * import { parseCommandArgs } from "@lpkit/cli";
 * import assert from "node:assert/strict";
 * const { values, positionals } = parseCommandArgs(["--json", "x"], "usage", {
 *   json: { type: "boolean" },
 * });
 * assert.equal(values.json, true);
 * assert.deepEqual(positionals, ["x"]);
 * ```
 */
export function parseCommandArgs<T extends OptionSpec>(args: string[], usage: string, options: T) {
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

/**
 * Whether human output may use colours: a terminal, and no `NO_COLOR`.
 *
 * @example
 * ```ts
 * import { useColor } from "@lpkit/cli";
 * import assert from "node:assert/strict";
 * assert.equal(useColor({ isTerminal: false, env: () => undefined }), false);
 * ```
 */
export function useColor(io: Pick<Io, "isTerminal" | "env">): boolean {
  return io.isTerminal && io.env("NO_COLOR") === undefined;
}

/**
 * Reads an input file, turning any failure into a one-line `CliError` whose
 * code is the system error code (`ENOENT`, `EACCES`, ...).
 *
 * @example
 * ```ts
 * import { CliError, readInput } from "@lpkit/cli";
 * import assert from "node:assert/strict";
 * const io = { readFile: () => { throw Object.assign(new Error("gone"), { code: "ENOENT" }); } };
 * assert.throws(() => readInput(io, "x"), (e) => e instanceof CliError && e.code === "ENOENT");
 * ```
 */
export function readInput(io: Pick<Io, "readFile">, file: string): Uint8Array {
  try {
    return io.readFile(file);
  } catch (e) {
    const code = (e as { code?: string }).code ?? "IO";
    throw new CliError(code, `cannot read ${file}: ${(e as Error).message.replace(/\s+/g, " ")}`);
  }
}

/** `--state DIR` and `--json`, shared by the commands that use a host. */
export const HOST_OPTIONS = {
  state: { type: "string" },
  json: { type: "boolean" },
} as const satisfies OptionSpec;

/** The text of the `--state`/`--json` options in usage texts. */
export const HOST_OPTIONS_USAGE =
  `  --state DIR       The host's state folder (default: $LPKIT_STATE, else ./.lpkit)
  --json            Print one JSON document on stdout (schemas: packages/cli/README.md)`;

/** Prints a command's usage when `--help` was given; returns whether it did. */
export function helpRequested(io: Io, values: { help?: boolean }, usage: string): boolean {
  if (values.help !== true) return false;
  io.stdout(usage);
  return true;
}

/**
 * Where a command's tool-style text goes: stdout (suppressed under
 * `--json`, where stdout carries the document) and stderr.
 */
export function toolOutput(io: Io, json: boolean | undefined) {
  return {
    out: (text: string) => {
      if (json !== true) io.stdout(text);
    },
    err: (text: string) => io.stderr(text),
  };
}

/**
 * Protects negative numbers (`-1`, `-0x10`) from being taken for options:
 * they become positionals, in order.
 *
 * @example
 * ```ts
 * import { parseCommandArgs, withNegativeNumbers } from "@lpkit/cli";
 * import assert from "node:assert/strict";
 * const { args, restore } = withNegativeNumbers(["f", "-1", "--json"]);
 * const { positionals } = parseCommandArgs(args, "usage", { json: { type: "boolean" } });
 * assert.deepEqual(restore(positionals), ["f", "-1"]);
 * ```
 */
export function withNegativeNumbers(args: string[]) {
  const marker = "\u0000neg:";
  return {
    args: args.map((a) => (/^-(\d|0x)/i.test(a) ? marker + a : a)),
    restore: (positionals: string[]) =>
      positionals.map((p) => (p.startsWith(marker) ? p.slice(marker.length) : p)),
  };
}
