/**
 * `xen-livepatch` parity: the upload, list and action logic of Xen 4.17's
 * tool (tools/misc/xen-livepatch.c; reference xen-4.17.md §6, peers.md
 * §1.1) over a state folder's host, with its messages byte for byte. Two
 * deliberate differences: commands match exactly (no prefixes), and an
 * action polls the host until it completes or its wait runs out, instead of
 * sleeping 60 ms and looking once.
 *
 * Where the tool prints `Error %d: %s`, lpkit adds one line of its own
 * (`lpkit: ...`) with what Xen logged on its console: the check that failed,
 * its errno name and a hint.
 *
 * @module
 */
import {
  errnoName,
  type Host,
  LIVEPATCH_STATE,
  LivepatchError,
  type LivepatchStatus,
  strerror,
  XEN_LIVEPATCH_NAME_SIZE,
} from "@lpkit/livepatch-core";
import { describeError } from "./describe_error.ts";
import { type ErrorReport, exitCodeForErrno } from "./errors.ts";
import type { HostSession } from "./session.ts";
import type { ActionName } from "./state.ts";

/** `HYPERVISOR_TIMEOUT_NS`: the timeout the tool passes with every action (30 ms). */
export const HYPERVISOR_TIMEOUT_NS = 30_000_000;

/** Where a command's text goes: the tool's stdout and stderr, in order. */
export interface ToolOutput {
  out(text: string): void;
  err(text: string): void;
}

/**
 * `state2str`.
 *
 * @example
 * ```ts
 * import { stateName } from "@lpkit/cli";
 * import { LIVEPATCH_STATE } from "@lpkit/livepatch-core";
 * import assert from "node:assert/strict";
 * assert.equal(stateName(LIVEPATCH_STATE.APPLIED), "APPLIED");
 * assert.equal(stateName(7), "unknown");
 * ```
 */
export function stateName(state: number): string {
  return state === LIVEPATCH_STATE.CHECKED
    ? "CHECKED"
    : state === LIVEPATCH_STATE.APPLIED
    ? "APPLIED"
    : "unknown";
}

/** A status as the JSON reports carry it. */
export interface StatusReport {
  /** `CHECKED`, `APPLIED` or `unknown`. */
  state: string;
  /** `LIVEPATCH_STATE_*`: 1 or 2. */
  stateCode: number;
  /** The last action's result: 0, -EAGAIN (11) while pending, or a negative errno. */
  rc: number;
  /** The errno name of `rc`, or null when it is 0. */
  rcName: string | null;
}

/**
 * {@linkcode StatusReport} of a status.
 *
 * @example
 * ```ts
 * import { statusReport } from "@lpkit/cli";
 * import assert from "node:assert/strict";
 * assert.deepEqual(statusReport({ state: 1, rc: -22 }), {
 *   state: "CHECKED",
 *   stateCode: 1,
 *   rc: -22,
 *   rcName: "EINVAL",
 * });
 * ```
 */
export function statusReport(s: LivepatchStatus): StatusReport {
  return {
    state: stateName(s.state),
    stateCode: s.state,
    rc: s.rc,
    rcName: s.rc === 0 ? null : errnoName(s.rc),
  };
}

/**
 * The `Error %d: %s` line, then lpkit's own line when it knows why.
 * Returns the error's report.
 */
function errorLines(o: ToolOutput, errno: number, cause?: unknown): ErrorReport {
  o.err(`Error ${Math.abs(errno)}: ${strerror(errno)}\n`);
  const r = cause === undefined ? undefined : describeError(cause);
  if (r !== undefined) o.err(`lpkit: ${r.message}${r.hint === null ? "" : ` (hint: ${r.hint})`}\n`);
  return r ?? {
    code: errnoName(errno),
    message: strerror(errno),
    errnoName: errnoName(errno),
    errno: -Math.abs(errno),
    hint: null,
    exitCode: exitCodeForErrno(errno),
  };
}

/**
 * `get_name`: the tool refuses names longer than 128 bytes (libxenctrl then refuses 128).
 *
 * @example
 * ```ts
 * import { nameTooLong } from "@lpkit/cli";
 * import assert from "node:assert/strict";
 * let err = "";
 * const o = { out: () => {}, err: (text: string) => void (err += text) };
 * assert.equal(nameTooLong(o, "hello"), false);
 * assert.equal(nameTooLong(o, "x".repeat(129)), true);
 * assert.equal(err, "ID must be no more than 128 characters.\n");
 * ```
 */
export function nameTooLong(o: ToolOutput, name: string): boolean {
  if (new TextEncoder().encode(name).length <= XEN_LIVEPATCH_NAME_SIZE) return false;
  o.err(`ID must be no more than ${XEN_LIVEPATCH_NAME_SIZE} characters.\n`);
  return true;
}

/** The `lpkit.upload/1` document. */
export interface UploadReport {
  schema: "lpkit.upload/1";
  name: string;
  file: string;
  /** SHA-256 of the file, or null when it could not be read. */
  sha256: string | null;
  result: "completed" | "failed";
  error: ErrorReport | null;
}

/** A file read failure, as the tool reports open/stat/mmap errors. */
export interface FileFailure {
  /** `open`, `map`: which message. */
  readonly step: "open" | "map";
  /** The positive errno. */
  readonly errno: number;
  /** glibc's text. */
  readonly text: string;
}

/**
 * `upload_func`: reads nothing itself (`bytes` or the read failure is
 * given), prints `Uploading <file>... completed|failed`, records the upload
 * when it succeeded. Returns the report and the exit code.
 *
 * @example
 * ```ts
 * import { main, processIo, toolUpload, withHost } from "@lpkit/cli";
 * import { mkdtempSync, readFileSync } from "node:fs";
 * import { tmpdir } from "node:os";
 * import assert from "node:assert/strict";
 * const dir = mkdtempSync(tmpdir() + "/lpkit-");
 * const io = { ...processIo(), stdout: () => {}, stderr: () => {} };
 * assert.equal(await main(["host", "init", "--example", "--state", dir], io), 0);
 * let out = "";
 * const o = { out: (text: string) => void (out += text), err: () => {} };
 * const bytes = readFileSync("examples/bin/hello.livepatch");
 * const { report } = await withHost(io, dir, { write: true }, (session) =>
 *   toolUpload(session, o, "hello", "hello.livepatch", bytes));
 * assert.equal(report.result, "completed");
 * assert.equal(out, "Uploading hello.livepatch... completed\n");
 * ```
 */
export function toolUpload(
  session: HostSession,
  o: ToolOutput,
  name: string,
  file: string,
  bytes: Uint8Array | FileFailure,
): { report: UploadReport; exitCode: number } {
  const report: UploadReport = {
    schema: "lpkit.upload/1",
    name,
    file,
    sha256: null,
    result: "failed",
    error: null,
  };
  const fail = (errno: number, e: ErrorReport) => {
    report.error = e;
    return { report, exitCode: exitCodeForErrno(errno) };
  };
  if (nameTooLong(o, name)) {
    return fail(
      22,
      toolError("NAME", 22, `ID must be no more than ${XEN_LIVEPATCH_NAME_SIZE} characters.`),
    );
  }
  if (!(bytes instanceof Uint8Array)) {
    const verb = bytes.step === "open" ? "open" : "map";
    o.err(`Could not ${verb} ${file}.\nError ${bytes.errno}: ${bytes.text}\n`);
    return fail(
      bytes.errno,
      toolError("IO", bytes.errno, `could not ${verb} ${file}: ${bytes.text}`),
    );
  }
  report.sha256 = session.store(bytes);
  o.out(`Uploading ${file}... `);
  const done = session.run(
    { op: "upload", name, sha256: report.sha256 },
    { record: (p) => p.outcome.ret === 0 },
  );
  const ret = done.outcome.ret ?? -22;
  if (done.outcome.crash !== undefined || ret !== 0) {
    o.out("failed\n");
    const errno = done.outcome.crash !== undefined ? 22 : -ret;
    return fail(errno, errorLines(o, errno, done.error));
  }
  o.out("completed\n");
  report.result = "completed";
  return { report, exitCode: 0 };
}

function toolError(code: string, errno: number, message: string): ErrorReport {
  return {
    code,
    message,
    errnoName: errnoName(errno),
    errno: -Math.abs(errno),
    hint: null,
    exitCode: exitCodeForErrno(errno),
  };
}

/** The `lpkit.action/1` document. */
export interface ActionReport {
  schema: "lpkit.action/1";
  action: ActionName;
  name: string;
  /**
   * `completed`; `no-action` (already in the expected state); `wrong-state`;
   * `in-progress` (another action on it is pending: retry); `incomplete`
   * (the wait ran out: retry); `failed` (errno in `error`).
   */
  result: "completed" | "no-action" | "wrong-state" | "in-progress" | "incomplete" | "failed";
  /** The status before, or null when GET failed. */
  before: StatusReport | null;
  /** The status after, or null when there is none (not issued, unloaded, GET failed). */
  after: StatusReport | null;
  /** Simulated time the command let the host run (ns). */
  waitedNs: number;
  error: ErrorReport | null;
}

interface ActionSpec {
  /** States from which it may run (bitmask of LIVEPATCH_STATE). */
  readonly allow: number;
  /** The state it leads to (-ENOENT for unload: the payload is gone). */
  readonly expected: number;
  readonly verb: string;
}

const ACTIONS: Record<ActionName, ActionSpec> = {
  apply: { allow: LIVEPATCH_STATE.CHECKED, expected: LIVEPATCH_STATE.APPLIED, verb: "Applying" },
  revert: { allow: LIVEPATCH_STATE.APPLIED, expected: LIVEPATCH_STATE.CHECKED, verb: "Reverting" },
  unload: { allow: LIVEPATCH_STATE.CHECKED, expected: -2, verb: "Unloading" },
  replace: {
    allow: LIVEPATCH_STATE.CHECKED,
    expected: LIVEPATCH_STATE.APPLIED,
    verb: "Replacing all live patches with",
  },
};

/** Options of {@linkcode toolAction}. */
export interface ToolActionOptions {
  readonly nodeps?: boolean;
  /** The ACTION's timeout (default 30 ms, as the tool passes). */
  readonly timeoutNs?: number;
  /** How long to let the host run for it (default twice the timeout, the tool's DELAY). */
  readonly waitNs?: number;
  /** Called between wait slices (progress). */
  readonly onSlice?: (waitedNs: number) => void;
}

function wrongState(o: ToolOutput, name: string, current: number, expected: number): void {
  o.err(
    `${name} is in the wrong state.\nCurrent state: ${stateName(current)}\nExpected state: ${
      stateName(expected)
    }\n`,
  );
}

/** Why the payload's last action failed, as the host recorded it. */
function lastFailure(host: Host, name: string): LivepatchError | undefined {
  return host.payloads().find((p) => p.name === name)?.lastFailure;
}

/**
 * `action_func` for apply, revert, replace and unload. Returns the report
 * and the exit code (0, 1, or 2 for EAGAIN/EBUSY).
 *
 * @example
 * ```ts
 * import { main, processIo, toolAction, withHost } from "@lpkit/cli";
 * import { mkdtempSync } from "node:fs";
 * import { tmpdir } from "node:os";
 * import assert from "node:assert/strict";
 * const dir = mkdtempSync(tmpdir() + "/lpkit-");
 * const io = { ...processIo(), stdout: () => {}, stderr: () => {} };
 * assert.equal(await main(["host", "init", "--example", "--state", dir], io), 0);
 * await main(["upload", "--state", dir, "hello", "examples/bin/hello.livepatch"], io);
 * let out = "";
 * const o = { out: (text: string) => void (out += text), err: () => {} };
 * const { report, exitCode } = await withHost(io, dir, { write: true }, (session) =>
 *   toolAction(session, o, "apply", "hello"));
 * assert.equal(exitCode, 0);
 * assert.equal(report.after?.state, "APPLIED");
 * assert.equal(out, "Applying hello... completed\n");
 * ```
 */
export function toolAction(
  session: HostSession,
  o: ToolOutput,
  action: ActionName,
  name: string,
  options: ToolActionOptions = {},
): { report: ActionReport; exitCode: number } {
  const spec = ACTIONS[action];
  const report: ActionReport = {
    schema: "lpkit.action/1",
    action,
    name,
    result: "failed",
    before: null,
    after: null,
    waitedNs: 0,
    error: null,
  };
  const end = (result: ActionReport["result"], exitCode: number, error?: ErrorReport) => {
    report.result = result;
    if (error !== undefined) report.error = error;
    return { report, exitCode };
  };
  if (nameTooLong(o, name)) {
    return end(
      "failed",
      1,
      toolError("NAME", 22, `ID must be no more than ${XEN_LIVEPATCH_NAME_SIZE} characters.`),
    );
  }
  const { client, host } = session;

  let status: LivepatchStatus;
  try {
    status = client.get(name);
  } catch (e) {
    if (!(e instanceof LivepatchError)) throw e;
    o.err(`Failed to get status of ${name}.\n`);
    return end("failed", exitCodeForErrno(e.errno), errorLines(o, e.errno, e));
  }
  report.before = statusReport(status);
  if (status.rc === -11) {
    o.err(`Cannot execute ${name}.\nOperation already in progress.\n`);
    return end("in-progress", 2, toolError("PENDING", 11, "Operation already in progress."));
  }
  if (status.state === spec.expected) {
    o.out("No action needed.\n");
    report.after = report.before;
    return end("no-action", 0);
  }
  if ((spec.allow & status.state) === 0) {
    wrongState(o, name, status.state, spec.allow);
    return end(
      "wrong-state",
      1,
      toolError("STATE", 22, `${name} is ${stateName(status.state)}, not ${stateName(spec.allow)}`),
    );
  }

  o.out(`${spec.verb} ${name}... `);
  const timeoutNs = options.timeoutNs ?? HYPERVISOR_TIMEOUT_NS;
  const waitNs = options.waitNs ?? 2 * timeoutNs;
  const t0 = host.cpus.nowNs;
  const done = session.run(
    { op: "action", name, action, nodeps: options.nodeps === true, timeoutNs, waitNs },
    { onSlice: options.onSlice },
  );
  report.waitedNs = host.cpus.nowNs - t0;
  if (done.outcome.crash !== undefined) {
    o.out("failed\n");
    const r = describeError(done.error)!;
    o.err(`lpkit: ${r.message}${r.hint === null ? "" : ` (hint: ${r.hint})`}\n`);
    return end("failed", 1, r);
  }
  const ret = done.outcome.ret ?? 0;
  if (ret !== 0) {
    o.out("failed\n");
    return end("failed", exitCodeForErrno(ret), errorLines(o, ret, done.error));
  }

  // The tool's single GET after its sleep; rc wins over state.
  let rc: number;
  try {
    const after = client.get(name);
    report.after = statusReport(after);
    rc = after.rc !== 0 ? after.rc : after.state;
  } catch (e) {
    if (!(e instanceof LivepatchError)) throw e;
    rc = e.errno;
  }
  if (rc === -11) {
    o.out("failed\n");
    o.err("Operation didn't complete.\n");
    return end("incomplete", 2, toolError("INCOMPLETE", 11, "Operation didn't complete."));
  }
  if (rc === spec.expected) {
    o.out("completed\n");
    return end("completed", 0);
  }
  o.out("failed\n");
  if (rc < 0) {
    return end("failed", exitCodeForErrno(rc), errorLines(o, rc, lastFailure(host, name)));
  }
  wrongState(o, name, rc, spec.expected);
  return end(
    "wrong-state",
    1,
    toolError(
      "STATE",
      22,
      `${name} is ${stateName(rc)} after ${action}, not ${stateName(spec.expected)}`,
    ),
  );
}

/**
 * `list_func`'s table: the 40-column name, the status with `(errno, strerror)` when rc is set, the metadata.
 *
 * @example
 * ```ts
 * import { listTable } from "@lpkit/cli";
 * import assert from "node:assert/strict";
 * assert.equal(listTable([]), "Nothing to list\n");
 * const metadata = new TextEncoder().encode("LIVEPATCH_RULEZ\0");
 * const table = listTable([{ name: "hello", status: { state: 2, rc: 0 }, metadata }]);
 * assert.equal(table.split("\n")[2], `${"hello".padEnd(40)}| APPLIED    | LIVEPATCH_RULEZ`);
 * ```
 */
export function listTable(
  entries: readonly { name: string; status: LivepatchStatus; metadata: Uint8Array }[],
): string {
  if (entries.length === 0) return "Nothing to list\n";
  let out = " ID                                     | status     | metadata\n" +
    "----------------------------------------+------------+---------------\n";
  for (const e of entries) {
    out += `${e.name.padEnd(40)}| ${stateName(e.status.state)}`;
    out += e.status.rc !== 0 ? ` (${-e.status.rc}, ${strerror(e.status.rc)})    | ` : "    | ";
    out += metadataText(e.metadata) + "\n";
  }
  return out;
}

/**
 * `.modinfo` as the tool prints it: NULs become `;`, the last (terminating) one is dropped.
 *
 * @example
 * ```ts
 * import { metadataText } from "@lpkit/cli";
 * import assert from "node:assert/strict";
 * assert.equal(metadataText(new TextEncoder().encode("a=1\0b=2\0")), "a=1;b=2");
 * ```
 */
export function metadataText(bytes: Uint8Array): string {
  const text = new TextDecoder("latin1").decode(
    bytes.length > 0 && bytes[bytes.length - 1] === 0 ? bytes.subarray(0, bytes.length - 1) : bytes,
  );
  return text.replaceAll("\0", ";");
}
