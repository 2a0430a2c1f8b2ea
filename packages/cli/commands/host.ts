/**
 * `lpkit host init|status|reset|run`: the simulated host in its state folder.
 *
 * @module
 */
import { Host, type ProfileName } from "@lpkit/livepatch-core";
import {
  type Command,
  helpRequested,
  HOST_OPTIONS,
  HOST_OPTIONS_USAGE,
  parseCommandArgs,
  readInput,
} from "../command.ts";
import { CliError } from "../errors.ts";
import { exampleFile } from "../example_files.ts";
import { table, toJson } from "../format.ts";
import { withLock } from "../lock.ts";
import type { FullIo } from "../platform.ts";
import { bootHost, hostOptions, parsedImage, withHost, withSignatureSupport } from "../session.ts";
import {
  type HostConfig,
  type ImageRef,
  LPKIT_VERSION,
  readState,
  sha256Hex,
  STATE_SCHEMA,
  type StateFile,
  statePaths,
  writeState,
} from "../state.ts";
import { formatDuration, parseCount, parseDuration, parseFrequency } from "../units.ts";
import { stateName } from "../xen_tool.ts";
import { hostContext } from "./_host_io.ts";

/** The `lpkit.host/1` document (`host init`, `host status`, `host reset`, `host run`). */
export interface HostReport {
  schema: "lpkit.host/1";
  /** The state folder (absolute). */
  state: string;
  image: {
    kind: "file" | "example";
    /** The file, or null for the bundled minivisor. */
    path: string | null;
    sha256: string;
    size: number;
    /** `minivisor` or `xen`. */
    type: string;
    buildId: string | null;
  };
  cpus: number;
  clockHz: number;
  vendor: string;
  profile: string;
  safety: HostConfig["safety"];
  signatures: { enforce: boolean; trustSources: string[] };
  /** Payloads in upload order. */
  payloads: { name: string; state: string; rc: number }[];
  /** The applied stack, bottom first. */
  applied: string[];
  /** The outstanding action, or null. */
  pending: { action: string; payload: string } | null;
  /** Recorded operations. */
  history: number;
  /** Simulated time (ns). */
  nowNs: number;
  /** Set when the hypervisor crashed. */
  crash: string | null;
  /** The hypervisor console, oldest first (all of it with --console, else the last 10 lines). */
  console: { timeNs: number; text: string }[];
}

const ACTION_WORDS: Record<number, string> = { 1: "unload", 2: "revert", 3: "apply", 4: "replace" };

function hostReport(dir: string, state: StateFile, host: Host, consoleLines: number): HostReport {
  const c = state.host;
  return {
    schema: "lpkit.host/1",
    state: dir,
    image: {
      kind: c.image.kind,
      path: c.image.kind === "file" ? c.image.path : null,
      sha256: c.image.sha256,
      size: c.image.size,
      type: host.image.kind,
      buildId: host.image.buildIdHex ?? null,
    },
    cpus: c.cpus,
    clockHz: c.clockHz,
    vendor: c.vendor,
    profile: c.profile,
    safety: c.safety,
    signatures: { enforce: c.signatures.enforce, trustSources: [...c.signatures.trustSources] },
    payloads: host.payloads().map((p) => ({ name: p.name, state: stateName(p.state), rc: p.rc })),
    applied: [...host.appliedStack()],
    pending: (() => {
      const w = host.pendingWork();
      return w === undefined
        ? null
        : { action: ACTION_WORDS[w.cmd] ?? String(w.cmd), payload: w.payload };
    })(),
    history: state.history.length,
    nowNs: host.cpus.nowNs,
    crash: host.cpus.crash?.message ?? null,
    console: host.console.slice(consoleLines < 0 ? 0 : -consoleLines).map((l) => ({ ...l })),
  };
}

function renderHost(r: HostReport): string {
  const s = r.safety;
  const checks = [
    s.stackCheck && "stack check",
    s.denyList && "deny-list",
    s.branchCheck && "branch check",
    s.reachCheck && "reach check",
  ].filter((x) => x !== false);
  const rows = [
    ["State folder", r.state],
    [
      "Image",
      `${r.image.path ?? "bundled minivisor"} (${r.image.type}, build-id ${
        r.image.buildId ?? "none"
      })`,
    ],
    ["SHA-256", r.image.sha256],
    ["CPUs", `${r.cpus} at ${formatHz(r.clockHz)}, ${r.vendor}`],
    ["Profile", r.profile],
    ["Safety", checks.length === 0 ? "off (exactly Xen 4.17)" : checks.join(", ")],
    [
      "Signatures",
      r.signatures.enforce
        ? `enforced (trust: ${r.signatures.trustSources.join(", ")})`
        : "not enforced",
    ],
    [
      "Payloads",
      r.payloads.length === 0
        ? "none"
        : r.payloads.map((p) => `${p.name} (${p.state}${p.rc !== 0 ? ` rc=${p.rc}` : ""})`).join(
          ", ",
        ),
    ],
    ["Applied", r.applied.length === 0 ? "none" : r.applied.join(" <- ")],
    ["Pending", r.pending === null ? "none" : `${r.pending.action} ${r.pending.payload}`],
    [
      "History",
      `${r.history} operation${r.history === 1 ? "" : "s"}, ${formatDuration(r.nowNs)} simulated`,
    ],
  ];
  if (r.crash !== null) rows.push(["CRASHED", r.crash]);
  let out = table(rows, "");
  if (r.console.length > 0) {
    out += "\nConsole:\n" +
      r.console.map((l) => `  [${(l.timeNs / 1e9).toFixed(6).padStart(12)}] ${l.text}\n`).join("");
  }
  return out;
}

function formatHz(hz: number): string {
  return hz >= 1e9 ? `${hz / 1e9} GHz` : hz >= 1e6 ? `${hz / 1e6} MHz` : `${hz / 1e3} kHz`;
}

const INIT_USAGE = `Usage: lpkit host init (--example | --xen-syms FILE) [options]

Creates a simulated host in the state folder: the image (the bundled
minivisor, which boots for real, or a Xen xen-syms, whose CPUs idle in a
host-provided loop), its CPUs and clock, the Xen version it behaves like,
lpkit's safety checks and signature enforcement. The folder must be new or
empty; lpkit never overwrites a host (see host reset).

Options:
  --example               Use the bundled minivisor (examples/bin/minivisor)
  --xen-syms FILE         Use a xen-syms image (e.g. Debian's xen-syms-4.17-amd64)
  --cpus N                CPUs (default 4; the minivisor has at most 4)
  --clock RATE            Simulated clock (default 2GHz)
  --profile NAME          xen-4.17 (default), xen-4.7 (the seed's v1 design) or extended
  --vendor intel|amd      CPU vendor (default intel)
  --enforce-signatures    Refuse uploads without a valid signature from --trust
  --trust CERT_OR_DIR     Trusted certificates (PEM or DER, files or folders; repeatable)
  --no-stack-check        Do not check CPU stacks at the rendezvous
  --no-deny-list          Allow patching the functions lpkit denies by default
  --no-branch-check       Allow old functions that branch into the patched bytes
  --no-reach-check        Allow jumps that cannot reach (as Xen 4.17 would)
  --xen-exact             All four checks off: exactly Xen 4.17's behaviour
  --state DIR             The host's state folder (default: $LPKIT_STATE, else ./.lpkit)
  --json                  Print one JSON document on stdout (schemas: packages/cli/README.md)

Examples:
  lpkit host init --example
  lpkit host init --xen-syms .cache/xen/xen-syms-4.17-amd64 --cpus 4
  lpkit host init --example --enforce-signatures --trust packages/signer/testdata/rsa2048.crt
`;

async function init(args: string[], ioIn: Parameters<Command["run"]>[1]): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, INIT_USAGE, {
    ...HOST_OPTIONS,
    example: { type: "boolean" },
    "xen-syms": { type: "string" },
    cpus: { type: "string" },
    clock: { type: "string" },
    profile: { type: "string" },
    vendor: { type: "string" },
    "enforce-signatures": { type: "boolean" },
    trust: { type: "string", multiple: true },
    "no-stack-check": { type: "boolean" },
    "no-deny-list": { type: "boolean" },
    "no-branch-check": { type: "boolean" },
    "no-reach-check": { type: "boolean" },
    "xen-exact": { type: "boolean" },
  });
  if (helpRequested(ioIn, values, INIT_USAGE)) return 0;
  if (positionals.length !== 0) {
    throw new CliError("USAGE", `host init takes no arguments\n\n${INIT_USAGE}`);
  }
  if ((values.example === true) === (values["xen-syms"] !== undefined)) {
    throw new CliError(
      "USAGE",
      `host init needs exactly one of --example and --xen-syms FILE\n\n${INIT_USAGE}`,
    );
  }
  const profiles: ProfileName[] = ["xen-4.17", "xen-4.7", "extended"];
  const profile = (values.profile ?? "xen-4.17") as ProfileName;
  if (!profiles.includes(profile)) {
    throw new CliError(
      "USAGE",
      `--profile is one of ${profiles.join(", ")}, not '${values.profile}'`,
    );
  }
  const vendor = values.vendor ?? "intel";
  if (vendor !== "intel" && vendor !== "amd") {
    throw new CliError("USAGE", `--vendor is intel or amd, not '${vendor}'`);
  }
  const trust = values.trust ?? [];
  if (values["enforce-signatures"] === true && trust.length === 0) {
    throw new CliError("USAGE", "--enforce-signatures needs --trust CERT_OR_DIR");
  }
  if (values["enforce-signatures"] !== true && trust.length > 0) {
    throw new CliError("USAGE", "--trust only makes sense with --enforce-signatures");
  }
  const exact = values["xen-exact"] === true;
  const ctx = hostContext(ioIn, values.state);
  const io = ctx.io;

  let bytes: Uint8Array;
  let image: ImageRef;
  if (values.example === true) {
    bytes = exampleFile(io, "minivisor");
    image = { kind: "example", sha256: sha256Hex(bytes), size: bytes.length };
  } else {
    const file = values["xen-syms"]!;
    bytes = readInput(io, file);
    image = { kind: "file", path: io.resolve(file), sha256: sha256Hex(bytes), size: bytes.length };
  }
  const config: HostConfig = {
    image,
    cpus: values.cpus === undefined ? 4 : parseCount(values.cpus, "--cpus", 1, 64),
    clockHz: values.clock === undefined ? 2e9 : parseFrequency(values.clock, "--clock"),
    profile,
    vendor,
    safety: {
      stackCheck: !exact && values["no-stack-check"] !== true,
      denyList: !exact && values["no-deny-list"] !== true,
      branchCheck: !exact && values["no-branch-check"] !== true,
      reachCheck: !exact && values["no-reach-check"] !== true,
    },
    signatures: { enforce: false, trustSha256: null, trustSources: [] },
  };
  // Boot it now: a bad image or option is reported before anything is written.
  const host = new Host(parsedImage(bytes, image.sha256), hostOptions(io, ctx.dir, config));
  let pem: Uint8Array | undefined;
  if (values["enforce-signatures"] === true) {
    // The signer (and node-forge) is loaded only for a host that enforces signatures.
    const { loadTrust, trustBundle } = await import("../signatures.ts");
    pem = new TextEncoder().encode(trustBundle(loadTrust(trust)));
  }

  const dir = ctx.dir;
  const paths = statePaths(dir);
  if (io.stat(dir) !== undefined) {
    if (!io.isDirectory(dir)) throw new CliError("STATE_FOREIGN", `${dir} is not a folder`);
    if (io.stat(paths.state) !== undefined) {
      throw new CliError(
        "STATE_EXISTS",
        `${dir} already holds a host`,
        1,
        "`lpkit host reset` reboots it; or pick another --state folder",
      );
    }
    const others = io.readDir(dir).filter((n) => !n.startsWith("lock"));
    if (others.length > 0) {
      throw new CliError(
        "STATE_FOREIGN",
        `${dir} is not empty and holds no lpkit host (${others.slice(0, 3).join(", ")}${
          others.length > 3 ? ", ..." : ""
        })`,
        1,
        "pick an empty or new --state folder",
      );
    }
  }
  io.mkdir(dir);
  return withLock(io, dir, () => {
    if (io.stat(paths.state) !== undefined) {
      throw new CliError(
        "STATE_EXISTS",
        `${dir} already holds a host`,
        1,
        "another `host init` just made it",
      );
    }
    let final = config;
    if (pem !== undefined) {
      io.writeFile(paths.trust, pem);
      final = {
        ...config,
        signatures: {
          enforce: true,
          trustSha256: sha256Hex(pem),
          trustSources: trust.map((t) => io.resolve(t)),
        },
      };
    }
    const state: StateFile = {
      schema: STATE_SCHEMA,
      lpkit: LPKIT_VERSION,
      created: new Date().toISOString(),
      host: final,
      history: [],
    };
    writeState(io, dir, state);
    const report = hostReport(dir, state, host, 10);
    ioIn.stdout(values.json ? toJson(report) : `Host initialized in ${dir}\n${renderHost(report)}`);
    return 0;
  });
}

const STATUS_USAGE = `Usage: lpkit host status [--console] [--state DIR] [--json]

Shows the host: image, CPUs, profile, checks, signature enforcement, the
payloads and the applied stack, a pending action, the history, the
simulated time, and the last lines of the hypervisor console.

Options:
  --console         The whole console, not the last 10 lines
${HOST_OPTIONS_USAGE}

Example:
  lpkit host status
`;

function status(args: string[], io: Parameters<Command["run"]>[1]): Promise<number> | number {
  const { values, positionals } = parseCommandArgs(args, STATUS_USAGE, {
    ...HOST_OPTIONS,
    console: { type: "boolean" },
  });
  if (helpRequested(io, values, STATUS_USAGE)) return 0;
  if (positionals.length !== 0) {
    throw new CliError("USAGE", `host status takes no arguments\n\n${STATUS_USAGE}`);
  }
  const ctx = hostContext(io, values.state);
  return withHost(ctx.io, ctx.dir, { progress: ctx.progress }, ({ state, host }) => {
    const report = hostReport(ctx.dir, state, host, values.console ? -1 : 10);
    io.stdout(values.json ? toJson(report) : renderHost(report));
    return 0;
  });
}

const RESET_USAGE = `Usage: lpkit host reset [--state DIR] [--json]

Reboots the host: drops its history (uploads, actions, kept calls) and the
stored payload files, and keeps its image and configuration. A damaged
state folder is not reset (lpkit cannot know what it held): remove it.

Example:
  lpkit host reset
`;

function reset(args: string[], io: Parameters<Command["run"]>[1]): Promise<number> | number {
  const { values, positionals } = parseCommandArgs(args, RESET_USAGE, HOST_OPTIONS);
  if (helpRequested(io, values, RESET_USAGE)) return 0;
  if (positionals.length !== 0) {
    throw new CliError("USAGE", `host reset takes no arguments\n\n${RESET_USAGE}`);
  }
  const ctx = hostContext(io, values.state);
  const full: FullIo = ctx.io;
  readState(full, ctx.dir); // a missing or damaged folder is an error before locking
  return withSignatureSupport(() =>
    withLock(full, ctx.dir, () => {
      const state = readState(full, ctx.dir);
      // Boot first: a host that cannot boot is reported before anything is written.
      const host = bootHost(full, ctx.dir, state.host);
      const fresh: StateFile = { ...state, history: [] };
      writeState(full, ctx.dir, fresh);
      full.remove(statePaths(ctx.dir).payloads);
      const report = hostReport(ctx.dir, fresh, host, 10);
      io.stdout(
        values.json
          ? toJson(report)
          : `Host rebooted: ${state.history.length} recorded operation${
            state.history.length === 1 ? "" : "s"
          } dropped\n${renderHost(report)}`,
      );
      return 0;
    })
  );
}

const RUN_USAGE = `Usage: lpkit host run [--for D] [--state DIR] [--json]

Lets the simulated host run: by default until the pending action completes
(at most 1 s of simulated time), or for exactly D with --for. Between
commands the simulated host does not run by itself; this is how a pending
action ("Operation didn't complete.") gets to finish. Recorded in the
history.

Options:
  --for D           Run for this long (e.g. 10ms), pending action or not
${HOST_OPTIONS_USAGE}

Examples:
  lpkit host run
  lpkit host run --for 100ms
`;

function run(args: string[], io: Parameters<Command["run"]>[1]): Promise<number> | number {
  const { values, positionals } = parseCommandArgs(args, RUN_USAGE, {
    ...HOST_OPTIONS,
    for: { type: "string" },
  });
  if (helpRequested(io, values, RUN_USAGE)) return 0;
  if (positionals.length !== 0) {
    throw new CliError("USAGE", `host run takes no arguments\n\n${RUN_USAGE}`);
  }
  const ns = values.for === undefined ? 1e9 : parseDuration(values.for, "--for");
  const ctx = hostContext(io, values.state);
  return withHost(ctx.io, ctx.dir, { write: true, progress: ctx.progress }, (session) => {
    const t0 = session.host.cpus.nowNs;
    const done = session.run(
      { op: "run", ns, untilDone: values.for === undefined },
      { onSlice: (w) => ctx.progress.update(`running: ${(w / 1e6).toFixed(0)} ms simulated`) },
    );
    ctx.progress.done();
    const report = hostReport(
      ctx.dir,
      {
        ...session.state,
        history: [...session.state.history, { op: "run", ns, untilDone: false, ...done.outcome }],
      },
      session.host,
      10,
    );
    if (values.json) io.stdout(toJson(report));
    else {
      io.stdout(
        `Ran ${formatDuration(session.host.cpus.nowNs - t0)} of simulated time; pending: ${
          report.pending === null ? "none" : `${report.pending.action} ${report.pending.payload}`
        }\n`,
      );
    }
    if (done.outcome.crash !== undefined) {
      throw done.error;
    }
    return 0;
  });
}

const HOST_USAGE = `Usage: lpkit host <init|status|reset|run> [options]

The simulated host lives in a state folder: --state DIR, else $LPKIT_STATE,
else ./.lpkit. It holds the image reference (path and SHA-256), the uploaded
payloads and the ordered history of operations; every command rebuilds the
host by replaying that history deterministically.

Commands:
  host init     Create a host from an image (--example or --xen-syms FILE)
  host status   Show the host, its payloads, history and console
  host reset    Reboot: drop the history, keep the image and configuration
  host run      Let simulated time pass (finish a pending action)

Examples:
  lpkit host init --xen-syms xen-syms-4.17-amd64 --cpus 4
  lpkit host status --json
`;

/** `lpkit host`. */
export const hostCommand: Command = {
  name: "host",
  usage: HOST_USAGE,
  run(args, io) {
    const [sub, ...rest] = args;
    switch (sub) {
      case "init":
        return init(rest, io);
      case "status":
        return status(rest, io);
      case "reset":
        return reset(rest, io);
      case "run":
        return run(rest, io);
      case undefined:
      case "--help":
      case "-h":
      case "help":
        io.stdout(HOST_USAGE);
        return 0;
      default:
        throw new CliError("USAGE", `unknown host command '${sub}'\n\n${HOST_USAGE}`);
    }
  },
};
