/**
 * `lpkit load <file> [--nodeps]`: xen-livepatch's load (upload, apply, and
 * unload again when the apply fails).
 *
 * @module
 */
import { basename } from "node:path";
import { type Command, HOST_OPTIONS_USAGE, toolOutput } from "../command.ts";
import { CliError } from "../errors.ts";
import { toJson } from "../format.ts";
import { withHost } from "../session.ts";
import { type ActionReport, toolAction, toolUpload, type UploadReport } from "../xen_tool.ts";
import { hostContext, parseActionArgs, readPayloadFile } from "./_host_io.ts";

/** The `lpkit.load/1` document. */
export interface LoadReport {
  schema: "lpkit.load/1";
  /** The name: the file's basename without its last extension. */
  name: string;
  file: string;
  upload: UploadReport;
  /** Null when the upload failed. */
  apply: ActionReport | null;
  /** The automatic unload after a failed apply, else null. */
  unload: ActionReport | null;
}

/**
 * The name `load` gives a file: its basename with the last `.extension`
 * removed (`/p/x.livepatch` → `x`).
 *
 * @example
 * ```ts
 * import { loadName } from "@lpkit/cli";
 * import assert from "node:assert/strict";
 * assert.equal(loadName("/p/hello.v2.livepatch"), "hello.v2");
 * ```
 */
export function loadName(file: string): string {
  const base = basename(file);
  const dot = base.lastIndexOf(".");
  return dot < 0 ? base : base.slice(0, dot);
}

/** `lpkit load`. */
export const loadCommand: Command = {
  name: "load",
  usage: `Usage: lpkit load <file> [--nodeps] [--timeout D] [--wait D] [--state DIR] [--json]

Uploads <file> with the name of the file (its basename without the last
extension) and applies it, as xen-livepatch's load does. When the apply
fails, the payload is unloaded again (with the unload's own output) and the
apply's exit code is returned.

Options:
  --nodeps          Disable inter-module buildid dependency check.
                    Check only against hypervisor buildid.
  --timeout D       The rendezvous timeout passed to Xen (default 30ms)
  --wait D          How long to let the simulated host run for it (default: 2 x timeout)
${HOST_OPTIONS_USAGE}

Examples:
  lpkit load examples/bin/hello.livepatch
  lpkit load bye.livepatch --nodeps
`,
  run(args, io) {
    const a = parseActionArgs(args, this.usage, true);
    if (a.help) {
      io.stdout(this.usage);
      return 0;
    }
    if (a.unsupported !== undefined) {
      io.stderr(`Unsupported flag: ${a.unsupported}.\n`);
      return 1;
    }
    if (a.positionals.length !== 1) {
      throw new CliError("USAGE", `load takes exactly one payload file\n\n${this.usage}`);
    }
    const { timeoutNs, waitNs, json } = a;
    const file = a.positionals[0];
    const name = loadName(file);
    const ctx = hostContext(io, a.state);
    const bytes = readPayloadFile(ctx.io, file);
    return withHost(ctx.io, ctx.dir, { write: true, progress: ctx.progress }, (session) => {
      const o = toolOutput(io, json);
      const report: LoadReport = {
        schema: "lpkit.load/1",
        name,
        file,
        upload: undefined as unknown as UploadReport,
        apply: null,
        unload: null,
      };
      const finish = (code: number) => {
        if (json) io.stdout(toJson(report));
        return code;
      };
      const up = toolUpload(session, o, name, file, bytes);
      report.upload = up.report;
      if (up.exitCode !== 0 || up.report.result !== "completed") return finish(up.exitCode || 1);
      const apply = toolAction(session, o, "apply", name, {
        nodeps: a.nodeps,
        timeoutNs,
        waitNs,
      });
      report.apply = apply.report;
      if (apply.exitCode !== 0) {
        report.unload = toolAction(session, o, "unload", name).report;
      }
      return finish(apply.exitCode);
    });
  },
};
