/**
 * A command's host: booted from the state folder's image and rebuilt by
 * replaying the recorded history, operation by operation, through the same
 * functions that performed them the first time ({@linkcode perform}). The
 * host is deterministic, so the replay gives the same results; each entry's
 * recorded outcome (return value, simulated time, crash) is checked, and a
 * divergence is reported instead of being papered over.
 *
 * Changing commands run under the folder's lock ({@linkcode withHost} with
 * `write: true`): they replay the latest history, perform and record their
 * operations, then write `state.json` atomically. Reading commands need no
 * lock: files are only ever replaced whole.
 *
 * @module
 */
import { parseElf } from "@lpkit/elf";
import {
  BudgetExceeded,
  DEFAULT_DENY_LIST,
  Host,
  type HostOptions,
  HypervisorCrash,
  type HypervisorImage,
  LIVEPATCH_ACTION,
  LivepatchClient,
  LivepatchError,
  loadHypervisorImage,
} from "@lpkit/livepatch-core";
import { CliError } from "./errors.ts";
import { exampleFile } from "./example_files.ts";
import { withLock } from "./lock.ts";
import type { FullIo } from "./platform.ts";
import type { Progress } from "./progress.ts";
import type * as Signatures from "./signatures.ts";
import {
  type HistoryEntry,
  type HostConfig,
  loadPayload,
  type Operation,
  type Outcome,
  readState,
  sha256Hex,
  type StateFile,
  statePaths,
  storePayload,
  writeState,
} from "./state.ts";

/** Simulated time per slice while waiting for an action (progress updates between slices). */
export const WAIT_SLICE_NS = 1_000_000;

/**
 * Reads the host's image and checks it is the one `host init` recorded.
 *
 * @example
 * ```ts
 * import { main, processIo, readImage, readState } from "@lpkit/cli";
 * import { mkdtempSync } from "node:fs";
 * import { tmpdir } from "node:os";
 * import assert from "node:assert/strict";
 * const dir = mkdtempSync(tmpdir() + "/lpkit-");
 * const io = { ...processIo(), stdout: () => {}, stderr: () => {} };
 * assert.equal(await main(["host", "init", "--example", "--state", dir], io), 0);
 * const { host } = readState(io, dir);
 * assert.equal(readImage(io, host).length, host.image.size);
 * ```
 */
export function readImage(io: FullIo, config: HostConfig): Uint8Array {
  const ref = config.image;
  let bytes: Uint8Array;
  if (ref.kind === "example") bytes = exampleFile(io, "minivisor");
  else {
    try {
      bytes = io.readFile(ref.path);
    } catch (e) {
      throw new CliError(
        "STATE_IMAGE",
        `cannot read the host's image ${ref.path}: ${(e as Error).message.replace(/\s+/g, " ")}`,
        1,
        "put the file back, or start a new host with `lpkit host init`",
      );
    }
  }
  const sha = sha256Hex(bytes);
  if (sha !== ref.sha256) {
    const where = ref.kind === "example" ? "the bundled minivisor" : ref.path;
    throw new CliError(
      "STATE_IMAGE",
      `${where} changed since host init (SHA-256 was ${ref.sha256}, is ${sha})`,
      1,
      "restore the original image, or start a new host with `lpkit host init`",
    );
  }
  return bytes;
}

// Parsing an image is the biggest part of booting; a process boots one image at most a few times.
const imageCache = new Map<string, HypervisorImage>();

/**
 * The parsed image for these bytes (cached by SHA-256 within the process).
 *
 * @example
 * ```ts
 * import { parsedImage, sha256Hex } from "@lpkit/cli";
 * import { readFileSync } from "node:fs";
 * import assert from "node:assert/strict";
 * const bytes = readFileSync("examples/bin/minivisor");
 * const image = parsedImage(bytes, sha256Hex(bytes));
 * assert.equal(parsedImage(bytes, sha256Hex(bytes)), image); // parsed once
 * ```
 */
export function parsedImage(bytes: Uint8Array, sha256: string): HypervisorImage {
  let image = imageCache.get(sha256);
  if (image === undefined) {
    image = loadHypervisorImage(bytes);
    imageCache.set(sha256, image);
  }
  return image;
}

// Signature checking loads the signer and node-forge (~35 ms at start-up), which only hosts that
// enforce signatures need: it is imported on first use, see withSignatureSupport().
let signatures: typeof Signatures | undefined;

/** Thrown by hostOptions() for an enforcing host before the signer is loaded. */
class SignatureSupportNeeded extends Error {}

/**
 * Runs `fn`, which boots a host, with signature checking available: when
 * `fn` needs it and it is not loaded yet, loads it and runs `fn` again (so
 * `fn` must not change anything before it boots the host).
 *
 * @example
 * ```ts
 * import { bootHost, main, processIo, readState, withSignatureSupport } from "@lpkit/cli";
 * import { LivepatchClient, LivepatchError } from "@lpkit/livepatch-core";
 * import { mkdtempSync, readFileSync } from "node:fs";
 * import { tmpdir } from "node:os";
 * import assert from "node:assert/strict";
 * const dir = mkdtempSync(tmpdir() + "/lpkit-");
 * const io = { ...processIo(), stdout: () => {}, stderr: () => {} };
 * const trust = ["--enforce-signatures", "--trust", "packages/signer/testdata/rsa2048.crt"];
 * assert.equal(await main(["host", "init", "--example", ...trust, "--state", dir], io), 0);
 * const host = await withSignatureSupport(() => bootHost(io, dir, readState(io, dir).host));
 * const unsigned = readFileSync("examples/bin/hello.livepatch");
 * assert.throws(() => new LivepatchClient(host).upload("hello", unsigned), LivepatchError);
 * ```
 */
export async function withSignatureSupport<T>(fn: () => T): Promise<T> {
  try {
    return fn();
  } catch (e) {
    if (!(e instanceof SignatureSupportNeeded)) throw e;
  }
  signatures = await import("./signatures.ts");
  return fn();
}

/**
 * The options to boot a host with this configuration.
 *
 * @example
 * ```ts
 * import { hostOptions, main, processIo, readState } from "@lpkit/cli";
 * import { mkdtempSync } from "node:fs";
 * import { tmpdir } from "node:os";
 * import assert from "node:assert/strict";
 * const dir = mkdtempSync(tmpdir() + "/lpkit-");
 * const io = { ...processIo(), stdout: () => {}, stderr: () => {} };
 * assert.equal(await main(["host", "init", "--example", "--state", dir], io), 0);
 * const options = hostOptions(io, dir, readState(io, dir).host);
 * assert.equal(options.cpus, 4);
 * assert.equal(options.signatureCheck, undefined); // signatures are not enforced
 * ```
 */
export function hostOptions(io: FullIo, dir: string, config: HostConfig): HostOptions {
  if (config.signatures.enforce && signatures === undefined) throw new SignatureSupportNeeded();
  const s = config.safety;
  return {
    cpus: config.cpus,
    clockHz: config.clockHz,
    profile: config.profile,
    vendor: config.vendor,
    safety: {
      stackCheck: s.stackCheck,
      denyList: s.denyList ? DEFAULT_DENY_LIST : [],
      branchCheck: s.branchCheck,
      reachCheck: s.reachCheck,
    },
    signatureCheck: config.signatures.enforce
      ? signatures!.signatureCheck(io, statePaths(dir).trust, config.signatures.trustSha256)
      : undefined,
  };
}

/**
 * Boots a fresh host for a configuration (no history).
 *
 * @example
 * ```ts
 * import { bootHost, main, processIo, readState } from "@lpkit/cli";
 * import { mkdtempSync } from "node:fs";
 * import { tmpdir } from "node:os";
 * import assert from "node:assert/strict";
 * const dir = mkdtempSync(tmpdir() + "/lpkit-");
 * const io = { ...processIo(), stdout: () => {}, stderr: () => {} };
 * assert.equal(await main(["host", "init", "--example", "--state", dir], io), 0);
 * const host = bootHost(io, dir, readState(io, dir).host);
 * assert.equal(host.cpus.count, 4);
 * assert.deepEqual(host.payloads(), []);
 * ```
 */
export function bootHost(io: FullIo, dir: string, config: HostConfig): Host {
  const bytes = readImage(io, config);
  // A parse check first, so that a damaged image is an ElfError, not a crash later.
  const image = parsedImage(bytes, config.image.sha256);
  return new Host(image, hostOptions(io, dir, config));
}

const ACTION_CMD = {
  apply: LIVEPATCH_ACTION.APPLY,
  revert: LIVEPATCH_ACTION.REVERT,
  replace: LIVEPATCH_ACTION.REPLACE,
  unload: LIVEPATCH_ACTION.UNLOAD,
} as const;

/**
 * Lets the host run until no action is outstanding or `maxNs` of simulated
 * time passed, in slices of {@linkcode WAIT_SLICE_NS}. Returns whether the
 * action completed. The same loop runs live and on replay.
 *
 * @example
 * ```ts
 * import { ephemeralHost, waitForAction } from "@lpkit/cli";
 * import { LIVEPATCH_ACTION, LivepatchClient } from "@lpkit/livepatch-core";
 * import { readFileSync } from "node:fs";
 * import assert from "node:assert/strict";
 * const host = ephemeralHost(readFileSync("examples/bin/minivisor"));
 * const lp = new LivepatchClient(host);
 * lp.upload("hello", readFileSync("examples/bin/hello.livepatch"));
 * lp.action("hello", LIVEPATCH_ACTION.APPLY, { wait: false });
 * assert.equal(waitForAction(host, 60_000_000), true);
 * assert.deepEqual(lp.get("hello"), { state: 2, rc: 0 });
 * ```
 */
export function waitForAction(
  host: Host,
  maxNs: number,
  onSlice?: (waitedNs: number) => void,
): boolean {
  // First until the action completed, then (as the tool's sleep would) until the CPUs are
  // back in their idle loops, within the same budget of simulated time.
  const quiet = () => host.cpus.quiet() && host.cpus.pendingTasks().length === 0;
  let waited = 0;
  for (const until of [() => host.pendingWork() === undefined, quiet]) {
    while (!until() && waited < maxNs) {
      const step = Math.min(WAIT_SLICE_NS, maxNs - waited);
      const t0 = host.cpus.nowNs;
      host.cpus.advance(step, until);
      waited += Math.max(host.cpus.nowNs - t0, 0) || step;
      onSlice?.(waited);
    }
  }
  return host.pendingWork() === undefined;
}

/** The result of performing an operation: its outcome and, for `call`, rax. */
export interface Performed {
  readonly outcome: Outcome;
  /** The error behind a non-zero `ret`, or the crash. */
  readonly error?: LivepatchError | HypervisorCrash | Error;
  readonly rax?: bigint;
}

/**
 * Performs one operation on the host: the single code path for doing it
 * and for replaying it.
 *
 * @example
 * ```ts
 * import { ephemeralHost, perform, sha256Hex } from "@lpkit/cli";
 * import { readFileSync } from "node:fs";
 * import assert from "node:assert/strict";
 * const host = ephemeralHost(readFileSync("examples/bin/minivisor"));
 * const bytes = readFileSync("examples/bin/hello.livepatch");
 * const upload = { op: "upload", name: "hello", sha256: sha256Hex(bytes) } as const;
 * assert.equal(perform(host, upload, () => bytes).outcome.ret, 0);
 * assert.equal(perform(host, upload, () => bytes).outcome.ret, -17); // EEXIST: already there
 * ```
 */
export function perform(
  host: Host,
  op: Operation,
  payload: (sha256: string) => Uint8Array,
  onSlice?: (waitedNs: number) => void,
): Performed {
  const client = new LivepatchClient(host);
  const done = (ret: number | null, extra: Partial<Performed> & { crash?: string } = {}) => {
    const { crash, ...rest } = extra;
    return {
      outcome: { ret, atNs: host.cpus.nowNs, ...(crash === undefined ? {} : { crash }) },
      ...rest,
    };
  };
  const crashed = (e: unknown, ret: number | null) => {
    if (e instanceof HypervisorCrash) return done(ret, { crash: e.message, error: e });
    throw e;
  };
  switch (op.op) {
    case "upload":
      try {
        client.upload(op.name, payload(op.sha256));
        return done(0);
      } catch (e) {
        if (e instanceof LivepatchError) return done(e.errno, { error: e });
        return crashed(e, null);
      }
    case "action": {
      try {
        client.action(op.name, ACTION_CMD[op.action], {
          wait: false,
          nodeps: op.nodeps,
          timeoutNs: op.timeoutNs,
        });
      } catch (e) {
        if (e instanceof LivepatchError) return done(e.errno, { error: e });
        return crashed(e, null);
      }
      try {
        waitForAction(host, op.waitNs, onSlice);
      } catch (e) {
        return crashed(e, 0);
      }
      return done(0);
    }
    case "call": {
      try {
        const rax = host.call(op.target, op.args.map((a) => BigInt(a)), {
          cpu: op.cpu ?? undefined,
          budget: op.budget,
        });
        return {
          outcome: { ret: null, atNs: host.cpus.nowNs, result: `0x${rax.toString(16)}` },
          rax,
        };
      } catch (e) {
        if (e instanceof LivepatchError) throw e; // unknown symbol: nothing ran
        if (e instanceof HypervisorCrash || e instanceof BudgetExceeded) {
          return done(null, { crash: e.message, error: e });
        }
        throw e;
      }
    }
    case "task":
      host.startTask(op.cpu, op.target, op.args.map((a) => BigInt(a)));
      return done(null);
    case "run":
      try {
        if (op.untilDone) waitForAction(host, op.ns, onSlice);
        else host.advance(op.ns);
        return done(null);
      } catch (e) {
        return crashed(e, null);
      }
  }
}

/** An opened host: its folder, state, the booted and replayed host. */
export interface HostSession {
  readonly io: FullIo;
  readonly dir: string;
  readonly state: StateFile;
  readonly host: Host;
  readonly client: LivepatchClient;
  /** Performs an operation and, in a writing session, records it (per `record`). */
  run(
    op: Operation,
    options?: { record?: (p: Performed) => boolean; onSlice?: (waitedNs: number) => void },
  ): Performed;
  /** Registers a payload file for an upload (written to the folder if the upload is recorded); returns its SHA-256. */
  store(bytes: Uint8Array): string;
  /** Whether the session may change the folder. */
  readonly writable: boolean;
}

function describeOutcome(o: Outcome): string {
  const parts = [`ret ${o.ret ?? "none"}`, `at ${o.atNs} ns`];
  if (o.crash !== undefined) parts.push(`crash "${o.crash}"`);
  if (o.result !== undefined) parts.push(`result ${o.result}`);
  return parts.join(", ");
}

function sameOutcome(a: Outcome, b: Outcome): boolean {
  return a.ret === b.ret && a.atNs === b.atNs && a.crash === b.crash && a.result === b.result;
}

/**
 * Replays a history onto a freshly booted host.
 *
 * @example
 * ```ts
 * import { bootHost, main, processIo, readState, replay } from "@lpkit/cli";
 * import { mkdtempSync } from "node:fs";
 * import { tmpdir } from "node:os";
 * import assert from "node:assert/strict";
 * const dir = mkdtempSync(tmpdir() + "/lpkit-");
 * const io = { ...processIo(), stdout: () => {}, stderr: () => {} };
 * assert.equal(await main(["host", "init", "--example", "--state", dir], io), 0);
 * await main(["load", "--state", dir, "examples/bin/hello.livepatch"], io);
 * const state = readState(io, dir);
 * const host = bootHost(io, dir, state.host);
 * replay(io, dir, state, host);
 * assert.deepEqual(host.appliedStack(), ["hello"]);
 * ```
 */
export function replay(
  io: FullIo,
  dir: string,
  state: StateFile,
  host: Host,
  progress?: Progress,
): void {
  const history = state.history;
  const payloads = new Map<string, Uint8Array>();
  const payload = (sha: string) => {
    let bytes = payloads.get(sha);
    if (bytes === undefined) payloads.set(sha, bytes = loadPayload(io, dir, sha));
    return bytes;
  };
  history.forEach((entry, i) => {
    progress?.update(`replaying the host's history: ${i + 1}/${history.length}`);
    const got = perform(host, entry, payload).outcome;
    if (!sameOutcome(got, entry)) {
      throw new CliError(
        "STATE_DIVERGED",
        `replaying ${statePaths(dir).state} diverged at history[${i}] (${entry.op} ${
          "name" in entry ? entry.name : "target" in entry ? entry.target : ""
        }): recorded ${describeOutcome(entry)}, replay gave ${describeOutcome(got)}`,
        1,
        `the folder was made by another lpkit version (${state.lpkit}) or edited; ` +
          "`lpkit host reset` reboots with an empty history",
      );
    }
  });
  progress?.done();
}

/** Options of {@linkcode withHost}. */
export interface OpenOptions {
  /** Hold the lock and allow recording (default false). */
  readonly write?: boolean;
  /** Progress output for long replays and waits. */
  readonly progress?: Progress;
}

/**
 * Opens the host of the state folder `dir` (replaying its history) and runs
 * `fn`; in a writing session, saves the new history afterwards, even when
 * `fn` throws after recording.
 *
 * @example
 * ```ts
 * import { main, processIo, withHost } from "@lpkit/cli";
 * import { mkdtempSync } from "node:fs";
 * import { tmpdir } from "node:os";
 * import assert from "node:assert/strict";
 * const dir = mkdtempSync(tmpdir() + "/lpkit-");
 * const io = { ...processIo(), stdout: () => {}, stderr: () => {} };
 * assert.equal(await main(["host", "init", "--example", "--state", dir], io), 0);
 * await main(["load", "--state", dir, "examples/bin/hello.livepatch"], io);
 * const applied = await withHost(io, dir, {}, ({ host }) => host.appliedStack());
 * assert.deepEqual(applied, ["hello"]);
 * ```
 */
export function withHost<T>(
  io: FullIo,
  dir: string,
  options: OpenOptions,
  fn: (session: HostSession) => T,
): Promise<T> {
  return withSignatureSupport(() => openHost(io, dir, options, fn));
}

function openHost<T>(
  io: FullIo,
  dir: string,
  options: OpenOptions,
  fn: (session: HostSession) => T,
): T {
  const open = () => {
    const state = readState(io, dir);
    const host = bootHost(io, dir, state.host);
    replay(io, dir, state, host, options.progress);
    return { state, host };
  };
  if (options.write !== true) {
    // Without the lock a writer may replace state.json (or reset) while we read: read again.
    for (let attempt = 0;; attempt++) {
      const before = fingerprint(io, dir);
      let opened;
      try {
        opened = open();
      } catch (e) {
        const retry = e instanceof CliError && e.code === "STATE_CORRUPT" &&
          fingerprint(io, dir) !== before;
        if (attempt < 3 && retry) continue;
        throw e;
      }
      return fn(makeSession(io, dir, opened.state, opened.host, false));
    }
  }
  // A missing, foreign or damaged folder is an error before locking (no lock file left in it).
  readState(io, dir);
  return withLock(io, dir, () => {
    const { state, host } = open();
    const session = makeSession(io, dir, state, host, true);
    try {
      return fn(session);
    } finally {
      session.save();
    }
  });
}

function fingerprint(io: FullIo, dir: string): string | undefined {
  try {
    return sha256Hex(io.readFile(statePaths(dir).state));
  } catch {
    return undefined;
  }
}

function makeSession(
  io: FullIo,
  dir: string,
  state: StateFile,
  host: Host,
  writable: boolean,
): HostSession & { save(): void } {
  const added: HistoryEntry[] = [];
  const stored = new Map<string, Uint8Array>();
  const payload = (sha: string) => stored.get(sha) ?? loadPayload(io, dir, sha);
  return {
    io,
    dir,
    state,
    host,
    client: new LivepatchClient(host),
    writable,
    store(bytes) {
      const sha = sha256Hex(bytes);
      stored.set(sha, bytes);
      return sha;
    },
    run(op, opts = {}) {
      const performed = perform(host, op, payload, opts.onSlice);
      const keep = opts.record?.(performed) ?? true;
      if (keep) {
        if (!writable) throw new Error("bug: recording in a read-only session");
        added.push({ ...op, ...performed.outcome });
      }
      return performed;
    },
    save() {
      if (added.length === 0) return;
      // Payload files first: state.json never names a file that is not there.
      for (const e of added) {
        if (e.op === "upload") storePayload(io, dir, payload(e.sha256));
      }
      writeState(io, dir, { ...state, history: [...state.history, ...added] });
      added.length = 0;
    },
  };
}

/**
 * Boots a host on an image file without a state folder (`call --image`).
 *
 * @example
 * ```ts
 * import { ephemeralHost } from "@lpkit/cli";
 * import { ElfError } from "@lpkit/elf";
 * import { readFileSync } from "node:fs";
 * import assert from "node:assert/strict";
 * const host = ephemeralHost(readFileSync("examples/bin/minivisor"), { cpus: 2 });
 * assert.equal(host.cpus.count, 2);
 * assert.throws(() => ephemeralHost(new Uint8Array(64)), ElfError);
 * ```
 */
export function ephemeralHost(bytes: Uint8Array, options: HostOptions = {}): Host {
  parseElf(bytes); // an ElfError for a non-ELF file, before the image checks
  return new Host(parsedImage(bytes, sha256Hex(bytes)), options);
}
