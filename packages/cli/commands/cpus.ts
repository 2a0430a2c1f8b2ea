/**
 * `lpkit cpus`: each CPU of the host, what it is doing, and its call chain.
 *
 * @module
 */
import type { Host } from "@lpkit/livepatch-core";
import {
  type Command,
  helpRequested,
  HOST_OPTIONS,
  HOST_OPTIONS_USAGE,
  parseCommandArgs,
} from "../command.ts";
import { CliError } from "../errors.ts";
import { toJson } from "../format.ts";
import { withHost } from "../session.ts";
import { formatDuration } from "../units.ts";
import { hostContext } from "./_host_io.ts";

/** The `lpkit.cpus/1` document. */
export interface CpusReport {
  schema: "lpkit.cpus/1";
  /** Simulated time (ns). */
  nowNs: number;
  cpus: {
    cpu: number;
    /** `idle` (halted in the idle loop), `running`, `busy` (a background task) or `parked` (rendezvous). */
    activity: string;
    /** The background task it runs, or null. */
    task: string | null;
    /** Background tasks waiting for it (they start when simulated time passes). */
    queued: string[];
    rip: bigint;
    /** The exact call chain, innermost first, as Xen's %pS. */
    backtrace: string[];
  }[];
}

/**
 * The CPUs report of a host.
 *
 * @example
 * ```ts
 * import { cpusReport, ephemeralHost } from "@lpkit/cli";
 * import { readFileSync } from "node:fs";
 * import assert from "node:assert/strict";
 * const host = ephemeralHost(readFileSync("examples/bin/minivisor"), { cpus: 2 });
 * const report = cpusReport(host);
 * assert.equal(report.cpus.length, 2);
 * assert.equal(report.cpus[0].activity, "idle");
 * assert.match(report.cpus[0].backtrace[0], /^idle_loop\+/);
 * ```
 */
export function cpusReport(host: Host): CpusReport {
  return {
    schema: "lpkit.cpus/1",
    nowNs: host.cpus.nowNs,
    cpus: Array.from({ length: host.cpus.count }, (_, k) => ({
      cpu: k,
      activity: host.cpus.activity(k),
      task: host.cpus.currentTask(k)?.label ?? null,
      queued: host.cpus.pendingTasks().filter((t) => t.cpu === k && t !== host.cpus.currentTask(k))
        .map((t) => t.label),
      rip: host.cpus.cpu(k).getRip(),
      backtrace: host.cpus.backtrace(k),
    })),
  };
}

function render(r: CpusReport): string {
  let out = `${r.cpus.length} CPU${r.cpus.length === 1 ? "" : "s"} at ${
    formatDuration(r.nowNs)
  } simulated\n`;
  for (const c of r.cpus) {
    const [top, ...callers] = c.backtrace;
    out += `CPU${c.cpu}  ${c.activity.padEnd(8)} ${top ?? `0x${c.rip.toString(16)}`}${
      c.task === null ? "" : `  (task: ${c.task})`
    }${c.queued.length === 0 ? "" : `  (queued: ${c.queued.join(", ")})`}\n`;
    for (const f of callers) out += `        <- ${f}\n`;
  }
  return out;
}

/** `lpkit cpus`. */
export const cpusCommand: Command = {
  name: "cpus",
  usage: `Usage: lpkit cpus [--state DIR] [--json]

Shows each emulated CPU of the host: idle (halted in the idle loop),
running, busy (running a background task) or parked (held in the live-patch
rendezvous), and its exact call chain, innermost first, in Xen's
name+0xoff/0xsize form.

Options:
${HOST_OPTIONS_USAGE}

Example:
  lpkit cpus
`,
  run(args, io) {
    const { values, positionals } = parseCommandArgs(args, this.usage, HOST_OPTIONS);
    if (helpRequested(io, values, this.usage)) return 0;
    if (positionals.length !== 0) {
      throw new CliError("USAGE", `cpus takes no arguments\n\n${this.usage}`);
    }
    const ctx = hostContext(io, values.state);
    return withHost(ctx.io, ctx.dir, { progress: ctx.progress }, ({ host }) => {
      const report = cpusReport(host);
      io.stdout(values.json ? toJson(report) : render(report));
      return 0;
    });
  },
};
