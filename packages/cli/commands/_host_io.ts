/**
 * What the host commands share: the real Io with every member, the state
 * folder from `--state`/`LPKIT_STATE`, and the payload file as the tool
 * reads it.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { CliError } from "../errors.ts";
import { type FullIo, type Io, requireIo } from "../platform.ts";
import { type Progress, progress } from "../progress.ts";
import { stateDir } from "../state.ts";
import { systemError } from "../sys_errors.ts";
import { parseDuration } from "../units.ts";
import type { FileFailure } from "../xen_tool.ts";

/** The Io, the state folder and a progress indicator of a host command. */
export function hostContext(
  io: Io,
  state: string | undefined,
): { io: FullIo; dir: string; progress: Progress } {
  const full = requireIo(io);
  return { io: full, dir: stateDir(state, full), progress: progress(full) };
}

/** Reads a payload file, or says why not as `open`/`map` would (an empty file cannot be mapped). */
export function readPayloadFile(io: FullIo, file: string): Uint8Array | FileFailure {
  try {
    const bytes = io.readFile(file);
    if (bytes.length === 0) return { step: "map", errno: 22, text: "Invalid argument" };
    return bytes;
  } catch (e) {
    const [errno, text] = systemError(e);
    return { step: "open", errno, text };
  }
}

/** The options of the action commands (apply, revert, replace, unload, load), parsed. */
export interface ActionArgs {
  readonly help: boolean;
  /** A flag the tool does not know (it prints "Unsupported flag: X."), if any. */
  readonly unsupported: string | undefined;
  readonly nodeps: boolean;
  readonly timeoutNs: number | undefined;
  readonly waitNs: number | undefined;
  readonly state: string | undefined;
  readonly json: boolean;
  readonly positionals: string[];
}

/**
 * Parses an action command's arguments as the tool's `get_flags` does:
 * `--nodeps` only where allowed, and any other unknown flag reported as
 * unsupported rather than as a usage error.
 */
export function parseActionArgs(args: string[], usage: string, nodeps: boolean): ActionArgs {
  const { values, positionals, tokens } = parseArgs({
    args,
    options: {
      nodeps: { type: "boolean" },
      timeout: { type: "string" },
      wait: { type: "string" },
      state: { type: "string" },
      json: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
    allowPositionals: true,
    strict: false,
    tokens: true,
  });
  const known = new Set(["timeout", "wait", "state", "json", "help", "h"]);
  if (nodeps) known.add("nodeps");
  let unsupported: string | undefined;
  for (const t of tokens) {
    if (t.kind !== "option") continue;
    if (!known.has(t.name)) {
      unsupported ??= t.rawName;
    } else if (["timeout", "wait", "state"].includes(t.name) && t.value === undefined) {
      throw new CliError("USAGE", `${t.rawName} needs a value\n\n${usage}`);
    }
  }
  const str = (v: unknown) => (typeof v === "string" ? v : undefined);
  const timeout = str(values.timeout);
  const timeoutNs = timeout === undefined ? undefined : parseDuration(timeout, "--timeout");
  if (timeoutNs !== undefined && (timeoutNs < 1 || timeoutNs > 0xffffffff)) {
    throw new CliError("USAGE", "--timeout must be from 1ns to 4.29s (Xen's u32 nanoseconds)");
  }
  const wait = str(values.wait);
  return {
    help: values.help === true,
    unsupported,
    nodeps: values.nodeps === true,
    timeoutNs,
    waitNs: wait === undefined ? undefined : parseDuration(wait, "--wait"),
    state: str(values.state),
    json: values.json === true,
    positionals,
  };
}
