/**
 * What every `lpkit` command is made of: its help text, its options, and a
 * `run` that parses, calls the packages, and prints. Each command lives in
 * `commands/<name>.ts` and is listed, with its help line, in `commands.ts`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { CliError } from "./errors.ts";
import { systemError } from "./sys_errors.ts";
import { type FileReader, type Io, requireStreams } from "./platform.ts";

/** One `lpkit` sub-command (its `help` line is in the registry, `commands.ts`). */
export interface Command {
  /** The word typed after `lpkit` (exact match). */
  readonly name: string;
  /** The full `--help` text, with examples. */
  readonly usage: string;
  /** Runs the command with the arguments after its name; returns the exit code. */
  run(args: string[], io: Io): number | Promise<number>;
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
 * A failed read or write of `file` as a one-line error with the system code (`ENOENT`...).
 * A known code is described as glibc does (Node's own text names the temporary file of an
 * atomic write, not the user's).
 */
function fileError(verb: "read" | "write", file: string, e: unknown): CliError {
  const code = (e as { code?: string }).code;
  const text = systemError(e)[1];
  const why = code !== undefined && text !== code
    ? `${text} (${code})`
    : String((e as Error)?.message ?? e).replace(/\s+/g, " ");
  return new CliError(code ?? "IO", `cannot ${verb} ${file}: ${why}`);
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
    throw fileError("read", file, e);
  }
}

/**
 * Opens an input file for chunked reads ({@linkcode Io.openRead}), runs `fn`
 * on it and closes it. Opening and reading failures become one-line
 * `CliError`s with the system code, and so does a file that shrinks while it
 * is read (a read that returns nothing before the size taken at opening).
 *
 * @example
 * ```ts
 * import { processIo, withInput } from "@lpkit/cli";
 * import assert from "node:assert/strict";
 * const size = withInput(processIo(), "deno.json", (input) => input.size);
 * assert.ok(size > 0);
 * ```
 */
export function withInput<T>(io: Io, file: string, fn: (input: FileReader) => T): T {
  const streams = requireStreams(io);
  let reader: FileReader;
  try {
    reader = streams.openRead(file);
  } catch (e) {
    throw fileError("read", file, e);
  }
  const input: FileReader = {
    size: reader.size,
    read(buffer, position) {
      let n: number;
      try {
        n = reader.read(buffer, position);
      } catch (e) {
        throw fileError("read", file, e);
      }
      if (n === 0 && buffer.length > 0 && position < reader.size) {
        throw new CliError(
          "IO",
          `cannot read ${file}: it shrank while being read (${position} of ${reader.size} bytes)`,
        );
      }
      return n;
    },
    close: () => reader.close(),
  };
  try {
    return fn(input);
  } finally {
    reader.close();
  }
}

/**
 * Writes an output file through `io.writeFile` (atomic), turning a failure
 * into a one-line {@linkcode CliError} with the system code (`ENOENT`...).
 *
 * @example
 * ```ts
 * import { CliError, writeOutput } from "@lpkit/cli";
 * import assert from "node:assert/strict";
 * const io = { writeFile: () => { throw Object.assign(new Error("denied"), { code: "EACCES" }); } };
 * assert.throws(() => writeOutput(io, "out", new Uint8Array()), (e) => e instanceof CliError && e.code === "EACCES");
 * ```
 */
export function writeOutput(io: Pick<Io, "writeFile">, file: string, data: Uint8Array): void {
  try {
    io.writeFile(file, data);
  } catch (e) {
    throw fileError("write", file, e);
  }
}

/**
 * Writes an output file atomically in pieces ({@linkcode Io.openWrite}):
 * `fn` gets a `write` function; when `fn` returns, the file is committed and
 * its result returned; when anything throws, the temporary file is removed
 * and `file` is left as it was. Write failures become one-line `CliError`s.
 *
 * @example
 * ```ts
 * import { processIo, writeOutputStream } from "@lpkit/cli";
 * import { mkdtempSync, readFileSync } from "node:fs";
 * import { tmpdir } from "node:os";
 * import assert from "node:assert/strict";
 * const path = mkdtempSync(tmpdir() + "/lpkit-") + "/out.bin";
 * writeOutputStream(processIo(), path, (write) => {
 *   write(new Uint8Array([1]));
 *   write(new Uint8Array([2, 3]));
 * });
 * assert.deepEqual([...readFileSync(path)], [1, 2, 3]);
 * ```
 */
export function writeOutputStream<T>(
  io: Io,
  file: string,
  fn: (write: (bytes: Uint8Array) => void) => T,
): T {
  const streams = requireStreams(io);
  let writer;
  try {
    writer = streams.openWrite(file);
  } catch (e) {
    throw fileError("write", file, e);
  }
  let result: T;
  try {
    result = fn((bytes) => {
      try {
        writer.write(bytes);
      } catch (e) {
        throw fileError("write", file, e);
      }
    });
  } catch (e) {
    try {
      writer.abort();
    } catch {
      // The first error is the one to report.
    }
    throw e;
  }
  try {
    writer.commit();
  } catch (e) {
    throw fileError("write", file, e);
  }
  return result;
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

/**
 * Prints a command's usage when `--help` was given; returns whether it did.
 *
 * @example
 * ```ts
 * import { helpRequested, processIo } from "@lpkit/cli";
 * import assert from "node:assert/strict";
 * let out = "";
 * const io = { ...processIo(), stdout: (text: string) => void (out += text) };
 * assert.equal(helpRequested(io, {}, "Usage: lpkit x\n"), false);
 * assert.equal(helpRequested(io, { help: true }, "Usage: lpkit x\n"), true);
 * assert.equal(out, "Usage: lpkit x\n");
 * ```
 */
export function helpRequested(io: Io, values: { help?: boolean }, usage: string): boolean {
  if (values.help !== true) return false;
  io.stdout(usage);
  return true;
}

/**
 * Where a command's tool-style text goes: stdout (suppressed under
 * `--json`, where stdout carries the document) and stderr.
 *
 * @example
 * ```ts
 * import { processIo, toolOutput } from "@lpkit/cli";
 * import assert from "node:assert/strict";
 * let out = "", err = "";
 * const io = {
 *   ...processIo(),
 *   stdout: (text: string) => void (out += text),
 *   stderr: (text: string) => void (err += text),
 * };
 * const o = toolOutput(io, true); // --json: stdout carries the document
 * o.out("Uploading hello.livepatch... failed\n");
 * o.err("Error 22: Invalid argument\n");
 * assert.equal(out, "");
 * assert.equal(err, "Error 22: Invalid argument\n");
 * ```
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
