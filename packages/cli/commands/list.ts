/**
 * `lpkit list`: xen-livepatch's list.
 *
 * @module
 */
import { LivepatchError, strerror } from "@lpkit/livepatch-core";
import {
  type Command,
  helpRequested,
  HOST_OPTIONS,
  HOST_OPTIONS_USAGE,
  parseCommandArgs,
} from "../command.ts";
import { CliError, exitCodeForErrno } from "../errors.ts";
import { toJson } from "../format.ts";
import { withHost } from "../session.ts";
import { listTable, stateName, type StatusReport, statusReport } from "../xen_tool.ts";
import { hostContext } from "./_host_io.ts";

/** The `lpkit.list/1` document. */
export interface ListReport {
  schema: "lpkit.list/1";
  payloads: (StatusReport & {
    name: string;
    /** `strerror(rc)`, or null when rc is 0. */
    rcText: string | null;
    /** The `.modinfo` strings. */
    metadata: string[];
  })[];
}

/** `lpkit list`. */
export const listCommand: Command = {
  name: "list",
  usage: `Usage: lpkit list [--state DIR] [--json]

Lists the payloads uploaded to the host in xen-livepatch's table: the name
in 40 columns, CHECKED or APPLIED with "(errno, strerror)" when the last
action failed (or is pending: 11), and the .modinfo metadata joined with
";". With no payloads it prints "Nothing to list".

Options:
${HOST_OPTIONS_USAGE}

Examples:
  lpkit list
  lpkit list --json
`,
  run(args, io) {
    const { values, positionals } = parseCommandArgs(args, this.usage, HOST_OPTIONS);
    if (helpRequested(io, values, this.usage)) return 0;
    if (positionals.length !== 0) {
      throw new CliError("USAGE", `list takes no arguments\n\n${this.usage}`);
    }
    const ctx = hostContext(io, values.state);
    return withHost(ctx.io, ctx.dir, { progress: ctx.progress }, ({ client }) => {
      let entries;
      try {
        entries = client.list();
      } catch (e) {
        if (!(e instanceof LivepatchError)) throw e;
        io.stderr(`Failed to get list sizes.\nError ${-e.errno}: ${strerror(e.errno)}\n`);
        return exitCodeForErrno(e.errno);
      }
      if (!values.json) {
        io.stdout(listTable(entries));
        return 0;
      }
      const report: ListReport = {
        schema: "lpkit.list/1",
        payloads: entries.map((e) => ({
          name: e.name,
          ...statusReport(e.status),
          state: stateName(e.status.state),
          rcText: e.status.rc === 0 ? null : strerror(e.status.rc),
          metadata: new TextDecoder("latin1").decode(e.metadata).split("\0").filter((m) =>
            m !== ""
          ),
        })),
      };
      io.stdout(toJson(report));
      return 0;
    });
  },
};
