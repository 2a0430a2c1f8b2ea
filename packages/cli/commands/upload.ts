/**
 * `lpkit upload <name> <file>`: xen-livepatch's upload.
 *
 * @module
 */
import {
  type Command,
  helpRequested,
  HOST_OPTIONS,
  HOST_OPTIONS_USAGE,
  parseCommandArgs,
  toolOutput,
} from "../command.ts";
import { CliError } from "../errors.ts";
import { toJson } from "../format.ts";
import { withHost } from "../session.ts";
import { toolUpload } from "../xen_tool.ts";
import { hostContext, readPayloadFile } from "./_host_io.ts";

/** `lpkit upload`. */
export const uploadCommand: Command = {
  name: "upload",
  usage: `Usage: lpkit upload <name> <file> [--state DIR] [--json]

Uploads <file> to the host as <name> (at most 127 bytes; xen-livepatch
refuses more than 128 and libxenctrl then refuses 128), as xen-livepatch
does: "Uploading <file>... completed", or "failed" and "Error <errno>:
<strerror>" with lpkit's reason on the next line. The payload is loaded,
checked and relocated by the simulated Xen, and stays CHECKED.

Options:
${HOST_OPTIONS_USAGE}

Exit codes: 0 uploaded, 1 error, 2 retry (EAGAIN, EBUSY).

Examples:
  lpkit upload hello examples/bin/hello.livepatch
  lpkit upload --json hello examples/bin/hello.livepatch
`,
  run(args, io) {
    const { values, positionals } = parseCommandArgs(args, this.usage, HOST_OPTIONS);
    if (helpRequested(io, values, this.usage)) return 0;
    if (positionals.length !== 2) {
      throw new CliError("USAGE", `upload takes a name and a file\n\n${this.usage}`);
    }
    const [name, file] = positionals;
    const ctx = hostContext(io, values.state);
    const bytes = readPayloadFile(ctx.io, file);
    return withHost(ctx.io, ctx.dir, { write: true, progress: ctx.progress }, (session) => {
      const { report, exitCode } = toolUpload(
        session,
        toolOutput(io, values.json),
        name,
        file,
        bytes,
      );
      if (values.json) io.stdout(toJson(report));
      return exitCode;
    });
  },
};
