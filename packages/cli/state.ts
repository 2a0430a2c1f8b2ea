/**
 * The state folder of a simulated host (`--state DIR`, `LPKIT_STATE`, else
 * `./.lpkit`):
 *
 * ```
 * DIR/state.json        the host's configuration and ordered history (schema lpkit.state/1)
 * DIR/payloads/<sha256> every uploaded payload file, by content
 * DIR/trust.pem         the trust store, copied at `host init --trust`
 * DIR/lock              held by the command that is changing the host
 * ```
 *
 * Nothing in the folder is a snapshot of the host: a command rebuilds it by
 * booting the image and replaying the history (`session.ts`). This module
 * only reads, validates and writes the files; every problem is a one-line
 * {@linkcode CliError} (`STATE_MISSING`, `STATE_CORRUPT`, `STATE_FOREIGN`,
 * `STATE_IMAGE`), and nothing here ever resets or repairs a folder.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import type { ProfileName } from "@lpkit/livepatch-core";
import { CliError } from "./errors.ts";
import type { FullIo, Io } from "./platform.ts";

/** `schema` of `state.json`. */
export const STATE_SCHEMA = "lpkit.state/1";

/** Where the host's image comes from. */
export type ImageRef =
  /** A file, by absolute path and content. */
  | { readonly kind: "file"; readonly path: string; readonly sha256: string; readonly size: number }
  /** The bundled minivisor (examples/bin/minivisor). */
  | { readonly kind: "example"; readonly sha256: string; readonly size: number };

/** The host's configuration, fixed at `host init`. */
export interface HostConfig {
  readonly image: ImageRef;
  readonly cpus: number;
  readonly clockHz: number;
  readonly profile: ProfileName;
  readonly vendor: "intel" | "amd";
  /** lpkit's checks beyond Xen (see livepatch-core's SafetyOptions). */
  readonly safety: {
    readonly stackCheck: boolean;
    /** Use the default deny-list (false: none). */
    readonly denyList: boolean;
    readonly branchCheck: boolean;
    readonly reachCheck: boolean;
  };
  /** Signature enforcement; the trust store is DIR/trust.pem, with this hash. */
  readonly signatures: {
    readonly enforce: boolean;
    readonly trustSha256: string | null;
    /** Where the certificates were copied from (for `host status`). */
    readonly trustSources: readonly string[];
  };
}

/** The outcome of a recorded operation, checked again on replay. */
export interface Outcome {
  /** The sysctl's return value (0 or a negative errno); null when none was issued. */
  readonly ret: number | null;
  /** Simulated time after the operation (ns). */
  readonly atNs: number;
  /** Set when the operation crashed the hypervisor, or the called function. */
  readonly crash?: string;
  /** `call`: rax, as 0x hex. */
  readonly result?: string;
}

/** An operation on the host, as recorded in the history. */
export type Operation =
  /** UPLOAD of DIR/payloads/<sha256> as `name`. */
  | { readonly op: "upload"; readonly name: string; readonly sha256: string }
  /** ACTION, then letting the host run up to `waitNs` until it completes. */
  | {
    readonly op: "action";
    readonly name: string;
    readonly action: ActionName;
    readonly nodeps: boolean;
    readonly timeoutNs: number;
    readonly waitNs: number;
  }
  /** `call --keep`: a function call whose effects stay. */
  | {
    readonly op: "call";
    readonly target: string;
    readonly args: readonly string[];
    readonly cpu: number | null;
    readonly budget: number;
  }
  /** `call --background`: start a function as a background task on a CPU (like a long hypercall). */
  | {
    readonly op: "task";
    readonly target: string;
    readonly args: readonly string[];
    readonly cpu: number;
  }
  /** `host run`: let simulated time pass (until the pending action completes, with `untilDone`). */
  | { readonly op: "run"; readonly ns: number; readonly untilDone: boolean };

/** The four actions. */
export type ActionName = "apply" | "revert" | "replace" | "unload";

/** One history entry: what was done, and what came of it. */
export type HistoryEntry = Operation & Outcome;

/** `state.json`. */
export interface StateFile {
  readonly schema: typeof STATE_SCHEMA;
  /** The lpkit version that created the folder. */
  readonly lpkit: string;
  /** When `host init` ran (ISO 8601). */
  readonly created: string;
  readonly host: HostConfig;
  readonly history: readonly HistoryEntry[];
}

/** The lpkit version written into new state folders. */
export const LPKIT_VERSION = "0.1.0";

/**
 * Paths inside a state folder.
 *
 * @example
 * ```ts
 * import { statePaths } from "@lpkit/cli";
 * import assert from "node:assert/strict";
 * const paths = statePaths("/var/lib/lpkit");
 * assert.equal(paths.state, "/var/lib/lpkit/state.json");
 * assert.equal(paths.payload("ab12"), "/var/lib/lpkit/payloads/ab12");
 * ```
 */
export function statePaths(dir: string) {
  return {
    dir,
    state: join(dir, "state.json"),
    payloads: join(dir, "payloads"),
    payload: (sha256: string) => join(dir, "payloads", sha256),
    trust: join(dir, "trust.pem"),
    lock: join(dir, "lock"),
  };
}

/**
 * The state folder to use: `--state`, else `LPKIT_STATE`, else `./.lpkit`.
 *
 * @example
 * ```ts
 * import { stateDir } from "@lpkit/cli";
 * import assert from "node:assert/strict";
 * assert.equal(stateDir(undefined, { env: () => "/tmp/h", resolve: (p: string) => p }), "/tmp/h");
 * ```
 */
export function stateDir(
  option: string | undefined,
  io: Pick<Io, "env"> & Pick<FullIo, "resolve">,
): string {
  return io.resolve(option ?? io.env("LPKIT_STATE") ?? ".lpkit");
}

/**
 * SHA-256 of bytes, as hex.
 *
 * @example
 * ```ts
 * import { sha256Hex } from "@lpkit/cli";
 * import assert from "node:assert/strict";
 * assert.equal(sha256Hex(new Uint8Array()).slice(0, 8), "e3b0c442");
 * ```
 */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

// ---------------------------------------------------------------------------------------------
// Validation: every field, so that a damaged file is reported, never half-used.

class Shape {
  constructor(readonly file: string) {}
  fail(what: string): never {
    throw corrupt(this.file, what);
  }
  object(v: unknown, what: string): Record<string, unknown> {
    if (typeof v !== "object" || v === null || Array.isArray(v)) {
      this.fail(`${what} is not an object`);
    }
    return v as Record<string, unknown>;
  }
  string(v: unknown, what: string): string {
    if (typeof v !== "string") this.fail(`${what} is not a string`);
    return v;
  }
  hash(v: unknown, what: string): string {
    const s = this.string(v, what);
    if (!/^[0-9a-f]{64}$/.test(s)) this.fail(`${what} is not a SHA-256`);
    return s;
  }
  bool(v: unknown, what: string): boolean {
    if (typeof v !== "boolean") this.fail(`${what} is not true or false`);
    return v;
  }
  int(v: unknown, what: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min || v > max) {
      this.fail(`${what} is not an integer in ${min}..${max}`);
    }
    return v;
  }
  /** Simulated nanoseconds: fractional at clock rates that do not divide 1 GHz. */
  time(v: unknown, what: string): number {
    if (typeof v !== "number" || !Number.isFinite(v) || v < 0) this.fail(`${what} is not a time`);
    return v;
  }
  oneOf<T extends string>(v: unknown, values: readonly T[], what: string): T {
    if (!values.includes(v as T)) this.fail(`${what} is not one of ${values.join(", ")}`);
    return v as T;
  }
}

function corrupt(file: string, what: string): CliError {
  return new CliError(
    "STATE_CORRUPT",
    `${file} is corrupted: ${what}`,
    1,
    "lpkit never resets a state folder by itself: repair or remove it, then `lpkit host init`",
  );
}

const ACTIONS: readonly ActionName[] = ["apply", "revert", "replace", "unload"];
const PROFILES: readonly ProfileName[] = ["xen-4.17", "xen-4.7", "extended"];

function parseImage(s: Shape, v: unknown): ImageRef {
  const o = s.object(v, "host.image");
  const kind = s.oneOf(o.kind, ["file", "example"] as const, "host.image.kind");
  const sha256 = s.hash(o.sha256, "host.image.sha256");
  const size = s.int(o.size, "host.image.size");
  if (kind === "example") return { kind, sha256, size };
  const path = s.string(o.path, "host.image.path");
  return { kind, path, sha256, size };
}

function parseConfig(s: Shape, v: unknown): HostConfig {
  const o = s.object(v, "host");
  const safety = s.object(o.safety, "host.safety");
  const sig = s.object(o.signatures, "host.signatures");
  const sources = sig.trustSources;
  if (!Array.isArray(sources) || sources.some((x) => typeof x !== "string")) {
    s.fail("host.signatures.trustSources is not a list of paths");
  }
  const enforce = s.bool(sig.enforce, "host.signatures.enforce");
  const trustSha256 = sig.trustSha256 === null
    ? null
    : s.hash(sig.trustSha256, "host.signatures.trustSha256");
  if (enforce && trustSha256 === null) s.fail("signatures are enforced without a trust store");
  return {
    image: parseImage(s, o.image),
    cpus: s.int(o.cpus, "host.cpus", 1, 64),
    clockHz: s.int(o.clockHz, "host.clockHz", 1000),
    profile: s.oneOf(o.profile, PROFILES, "host.profile"),
    vendor: s.oneOf(o.vendor, ["intel", "amd"] as const, "host.vendor"),
    safety: {
      stackCheck: s.bool(safety.stackCheck, "host.safety.stackCheck"),
      denyList: s.bool(safety.denyList, "host.safety.denyList"),
      branchCheck: s.bool(safety.branchCheck, "host.safety.branchCheck"),
      reachCheck: s.bool(safety.reachCheck, "host.safety.reachCheck"),
    },
    signatures: { enforce, trustSha256, trustSources: sources as string[] },
  };
}

function parseEntry(s: Shape, v: unknown, i: number): HistoryEntry {
  const w = `history[${i}]`;
  const o = s.object(v, w);
  const outcome: Outcome = {
    ret: o.ret === null ? null : s.int(o.ret, `${w}.ret`, -4095, 0),
    atNs: s.time(o.atNs, `${w}.atNs`),
    ...(o.crash === undefined ? {} : { crash: s.string(o.crash, `${w}.crash`) }),
    ...(o.result === undefined ? {} : { result: s.string(o.result, `${w}.result`) }),
  };
  switch (o.op) {
    case "upload":
      return {
        op: "upload",
        name: s.string(o.name, `${w}.name`),
        sha256: s.hash(o.sha256, `${w}.sha256`),
        ...outcome,
      };
    case "action":
      return {
        op: "action",
        name: s.string(o.name, `${w}.name`),
        action: s.oneOf(o.action, ACTIONS, `${w}.action`),
        nodeps: s.bool(o.nodeps, `${w}.nodeps`),
        timeoutNs: s.int(o.timeoutNs, `${w}.timeoutNs`, 0, 0xffffffff),
        waitNs: s.int(o.waitNs, `${w}.waitNs`),
        ...outcome,
      };
    case "call": {
      const args = o.args;
      if (!Array.isArray(args) || args.some((a) => typeof a !== "string")) {
        s.fail(`${w}.args is not a list of strings`);
      }
      return {
        op: "call",
        target: s.string(o.target, `${w}.target`),
        args: args as string[],
        cpu: o.cpu === null ? null : s.int(o.cpu, `${w}.cpu`, 0, 63),
        budget: s.int(o.budget, `${w}.budget`, 1),
        ...outcome,
      };
    }
    case "task": {
      const args = o.args;
      if (!Array.isArray(args) || args.some((a) => typeof a !== "string")) {
        s.fail(`${w}.args is not a list of strings`);
      }
      return {
        op: "task",
        target: s.string(o.target, `${w}.target`),
        args: args as string[],
        cpu: s.int(o.cpu, `${w}.cpu`, 0, 63),
        ...outcome,
      };
    }
    case "run":
      return {
        op: "run",
        ns: s.int(o.ns, `${w}.ns`),
        untilDone: s.bool(o.untilDone, `${w}.untilDone`),
        ...outcome,
      };
    default:
      return s.fail(`${w}.op is unknown`);
  }
}

/**
 * Parses and validates `state.json`'s bytes. A file that is not JSON or
 * lacks a field is `STATE_CORRUPT`; JSON with another `schema` is
 * `STATE_FOREIGN`.
 *
 * @example
 * ```ts
 * import { CliError, parseState } from "@lpkit/cli";
 * import assert from "node:assert/strict";
 * assert.throws(
 *   () => parseState(new TextEncoder().encode("{\"sch"), "s/state.json"),
 *   (e) => e instanceof CliError && e.code === "STATE_CORRUPT",
 * );
 * ```
 */
export function parseState(bytes: Uint8Array, file: string): StateFile {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (e) {
    throw corrupt(file, `not valid JSON (${(e as Error).message})`);
  }
  const s: Shape = new Shape(file);
  const o = s.object(json, "the document");
  if (o.schema !== STATE_SCHEMA) {
    throw new CliError(
      "STATE_FOREIGN",
      `${file} is not an lpkit host state (schema ${
        JSON.stringify(o.schema ?? null)
      }, expected ${STATE_SCHEMA})`,
      1,
      "use another --state folder",
    );
  }
  const history = o.history;
  if (!Array.isArray(history)) s.fail("history is not a list");
  return {
    schema: STATE_SCHEMA,
    lpkit: s.string(o.lpkit, "lpkit"),
    created: s.string(o.created, "created"),
    host: parseConfig(s, o.host),
    history: history.map((e, i) => parseEntry(s, e, i)),
  };
}

/**
 * `state.json`'s bytes (stable key order, one entry per line for readable diffs).
 *
 * @example
 * ```ts
 * import { encodeState, main, parseState, processIo, readState } from "@lpkit/cli";
 * import { mkdtempSync } from "node:fs";
 * import { tmpdir } from "node:os";
 * import assert from "node:assert/strict";
 * const dir = mkdtempSync(tmpdir() + "/lpkit-");
 * const io = { ...processIo(), stdout: () => {}, stderr: () => {} };
 * assert.equal(await main(["host", "init", "--example", "--state", dir], io), 0);
 * const state = readState(io, dir);
 * const bytes = encodeState(state);
 * assert.deepEqual(parseState(bytes, "state.json"), state);
 * assert.ok(new TextDecoder().decode(bytes).endsWith('  "history": []\n}\n'));
 * ```
 */
export function encodeState(state: StateFile): Uint8Array {
  const { history, ...rest } = state;
  const head = JSON.stringify(rest, null, 2).replace(/\n}$/, "");
  const lines = history.map((e) => `    ${JSON.stringify(e)}`);
  const body = lines.length === 0 ? "[]" : `[\n${lines.join(",\n")}\n  ]`;
  return new TextEncoder().encode(`${head},\n  "history": ${body}\n}\n`);
}

/**
 * Reads the state folder's `state.json`, or throws `STATE_MISSING` when the
 * folder holds no host.
 *
 * @example
 * ```ts
 * import { CliError, processIo, readState } from "@lpkit/cli";
 * import { mkdtempSync } from "node:fs";
 * import { tmpdir } from "node:os";
 * import assert from "node:assert/strict";
 * const dir = mkdtempSync(tmpdir() + "/lpkit-");
 * assert.throws(
 *   () => readState(processIo(), dir),
 *   (e) => e instanceof CliError && e.code === "STATE_MISSING",
 * );
 * ```
 */
export function readState(io: FullIo, dir: string): StateFile {
  const paths = statePaths(dir);
  const info = io.stat(paths.state);
  if (info === undefined) {
    const what = io.stat(dir) === undefined ? "does not exist" : "holds no host";
    throw new CliError(
      "STATE_MISSING",
      `the state folder ${dir} ${what}`,
      1,
      "start one with `lpkit host init --example` or `--xen-syms FILE` (or pass --state DIR)",
    );
  }
  let bytes: Uint8Array;
  try {
    bytes = io.readFile(paths.state);
  } catch (e) {
    throw new CliError("IO", `cannot read ${paths.state}: ${(e as Error).message}`);
  }
  return parseState(bytes, paths.state);
}

/**
 * Writes `state.json` atomically.
 *
 * @example
 * ```ts
 * import { main, processIo, readState, writeState } from "@lpkit/cli";
 * import { mkdtempSync } from "node:fs";
 * import { tmpdir } from "node:os";
 * import assert from "node:assert/strict";
 * const dir = mkdtempSync(tmpdir() + "/lpkit-");
 * const io = { ...processIo(), stdout: () => {}, stderr: () => {} };
 * assert.equal(await main(["host", "init", "--example", "--state", dir], io), 0);
 * const state = readState(io, dir);
 * writeState(io, dir, { ...state, created: "2024-01-01T00:00:00.000Z" });
 * assert.equal(readState(io, dir).created, "2024-01-01T00:00:00.000Z");
 * ```
 */
export function writeState(io: FullIo, dir: string, state: StateFile): void {
  io.writeFile(statePaths(dir).state, encodeState(state));
}

/**
 * Stores a payload file by content (no-op when it is there). Returns its SHA-256.
 *
 * @example
 * ```ts
 * import { processIo, sha256Hex, statePaths, storePayload } from "@lpkit/cli";
 * import { mkdtempSync, readFileSync } from "node:fs";
 * import { tmpdir } from "node:os";
 * import assert from "node:assert/strict";
 * const dir = mkdtempSync(tmpdir() + "/lpkit-");
 * const bytes = readFileSync("examples/bin/hello.livepatch");
 * const sha = storePayload(processIo(), dir, bytes);
 * assert.equal(sha, sha256Hex(bytes));
 * assert.deepEqual(readFileSync(statePaths(dir).payload(sha)), bytes);
 * ```
 */
export function storePayload(io: FullIo, dir: string, bytes: Uint8Array): string {
  const paths = statePaths(dir);
  const sha = sha256Hex(bytes);
  const path = paths.payload(sha);
  if (io.stat(path)?.size === bytes.length) return sha;
  io.mkdir(paths.payloads);
  io.writeFile(path, bytes);
  return sha;
}

/**
 * Reads a stored payload and checks its content against its name.
 *
 * @example
 * ```ts
 * import { CliError, loadPayload, processIo, storePayload } from "@lpkit/cli";
 * import { mkdtempSync } from "node:fs";
 * import { tmpdir } from "node:os";
 * import assert from "node:assert/strict";
 * const dir = mkdtempSync(tmpdir() + "/lpkit-");
 * const sha = storePayload(processIo(), dir, new TextEncoder().encode("payload"));
 * assert.equal(new TextDecoder().decode(loadPayload(processIo(), dir, sha)), "payload");
 * assert.throws(
 *   () => loadPayload(processIo(), dir, "0".repeat(64)),
 *   (e) => e instanceof CliError && e.code === "STATE_CORRUPT",
 * );
 * ```
 */
export function loadPayload(io: FullIo, dir: string, sha256: string): Uint8Array {
  const path = statePaths(dir).payload(sha256);
  let bytes: Uint8Array;
  try {
    bytes = io.readFile(path);
  } catch {
    throw corrupt(path, "the payload file is missing");
  }
  if (sha256Hex(bytes) !== sha256) {
    throw corrupt(path, "the payload file does not match its SHA-256");
  }
  return bytes;
}
