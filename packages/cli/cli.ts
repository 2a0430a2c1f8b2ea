/**
 * The `lpkit` command: dispatch to the registered commands, and one-line errors.
 * Only the command that runs is loaded (see `commands.ts`).
 *
 * @module
 */
import { COMMANDS } from "./commands.ts";
import { CliError, describeCliError, errorLine, type ErrorReport } from "./errors.ts";
import { toJson } from "./format.ts";
import { type Io, runtimeVersion } from "./platform.ts";

/** lpkit's version (the `version` of `packages/cli/deno.json`; a test keeps them equal). */
export const VERSION = "0.1.0";

/**
 * Xen's `XEN_LIVEPATCH_NAME_SIZE` (livepatch-core's constant of that name; a
 * test keeps them equal), here so that `lpkit help` loads no package.
 */
const NAME_SIZE = 128;

function usage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.synopsis.length)) + 2;
  const lines = COMMANDS.map((c) => `  ${c.synopsis.padEnd(width)}${c.summary}`);
  return `lpkit: a toolchain and verifier for Xen live-patch payloads

Usage: lpkit <command> [args] [options]
 <name> An unique name of payload. Up to ${NAME_SIZE} characters.

Commands:
  ${"help [command]".padEnd(width)}Show this text, or a command's
${lines.join("\n")}

The host commands work on the simulated host in a state folder: --state DIR,
else $LPKIT_STATE, else ./.lpkit (start one with \`lpkit host init --example\`).
Every command takes --help and --json; \`lpkit --version\` prints the version.
Exit codes: 0 success, 1 error, 2 retry (EAGAIN, EBUSY: busy or timed out).
`;
}

/** The `lpkit.help/1` document (`lpkit help --json`): every command. */
export interface HelpDocument {
  schema: "lpkit.help/1";
  commands: { name: string; synopsis: string; summary: string }[];
}

/** The `lpkit.version/1` document (`lpkit --version --json`). */
export interface VersionDocument {
  schema: "lpkit.version/1";
  /** lpkit's version, e.g. `0.1.0`. */
  version: string;
  /** The runtime, e.g. `deno 2.9.6` or `node 20.19.2` (the Node single binary). */
  runtime: string;
}

/** The `lpkit.error/1` document printed on stdout when a `--json` command fails. */
export interface ErrorDocument {
  schema: "lpkit.error/1";
  command: string;
  error: ErrorReport;
}

/**
 * The report of a thrown value, or undefined for a bug. A {@linkcode CliError}
 * needs nothing more; the packages' error classes are recognised by
 * `describe_error.ts` and the signer's by `signatures.ts`, loaded only then.
 */
async function describe(e: unknown): Promise<ErrorReport | undefined> {
  if (e instanceof CliError) return describeCliError(e);
  return (await import("./describe_error.ts")).describeError(e) ??
    (await import("./signatures.ts")).describeSignatureError(e);
}

/**
 * Runs `lpkit` with `args` (without the program name) and resolves to the
 * exit code. User errors are printed as one line on standard error (and, with
 * `--json`, as an `lpkit.error/1` document on standard output, unless the
 * command printed its own document or the error is about usage). Only the
 * module of the command named is loaded.
 *
 * @example
 * ```ts
 * import { main } from "@lpkit/cli";
 * import assert from "node:assert/strict";
 * let out = "";
 * const io = { stdout: (s: string) => void (out += s), stderr: () => {}, readFile: () => new Uint8Array(),
 *   writeFile: () => {}, readDir: () => [], isDirectory: () => false, env: () => undefined,
 *   isTerminal: false };
 * assert.equal(await main(["help"], io), 0);
 * assert.match(out, /inspect/);
 * ```
 */
export async function main(args: string[], io: Io): Promise<number> {
  const [name, ...rest] = args;
  if (name === undefined || name === "help" || name === "--help" || name === "-h") {
    if (rest.includes("--json")) {
      const doc: HelpDocument = {
        schema: "lpkit.help/1",
        commands: COMMANDS.map((c) => ({ name: c.name, synopsis: c.synopsis, summary: c.summary })),
      };
      io.stdout(toJson(doc));
      return 0;
    }
    const topic = name === "help" ? COMMANDS.find((c) => c.name === rest[0]) : undefined;
    io.stdout(topic === undefined ? usage() : (await topic.load()).usage);
    return 0;
  }
  if (name === "--version" || name === "-V" || name === "version") {
    const doc: VersionDocument = {
      schema: "lpkit.version/1",
      version: VERSION,
      runtime: runtimeVersion(),
    };
    io.stdout(rest.includes("--json") ? toJson(doc) : `lpkit ${doc.version} (${doc.runtime})\n`);
    return 0;
  }
  const entry = COMMANDS.find((c) => c.name === name);
  if (entry === undefined) {
    io.stderr(`lpkit: unknown command '${name}' -- try 'lpkit help'\n`);
    return 1;
  }
  // A command that printed its own JSON document before failing gets no error document.
  let printed = false;
  const watched: Io = {
    ...io,
    stdout: (text) => {
      printed = true;
      io.stdout(text);
    },
  };
  try {
    const command = await entry.load();
    return await command.run(rest, watched);
  } catch (e) {
    const report = await describe(e);
    if (report === undefined) throw e; // a bug: let the runtime print it
    const label = name === "host" && rest[0] !== undefined && !rest[0].startsWith("-")
      ? `host ${rest[0]}`
      : name;
    if (report.code === "USAGE") {
      // The first line is the problem; the usage follows, as for any CLI.
      const [first, ...more] = report.message === "" ? [""] : (e as Error).message.split("\n");
      io.stderr(
        `lpkit ${label}: ${first}\n${more.length > 0 ? more.join("\n").replace(/^\n/, "\n") : ""}`,
      );
    } else {
      io.stderr(errorLine(label, report));
    }
    if (rest.includes("--json") && !printed && report.code !== "USAGE") {
      const doc: ErrorDocument = { schema: "lpkit.error/1", command: label, error: report };
      io.stdout(toJson(doc));
    }
    return report.exitCode;
  }
}
