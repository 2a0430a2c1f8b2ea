/**
 * `lpkit apply|revert|replace|unload <name>`: xen-livepatch's actions.
 *
 * @module
 */
import { type Command, HOST_OPTIONS_USAGE, toolOutput } from "../command.ts";
import { CliError } from "../errors.ts";
import { toJson } from "../format.ts";
import { withHost } from "../session.ts";
import type { ActionName } from "../state.ts";
import { toolAction } from "../xen_tool.ts";
import { hostContext, parseActionArgs } from "./_host_io.ts";

const ABOUT: Record<ActionName, { text: string; example: string }> = {
  apply: {
    text: `Applies <name>: the host checks its build-id dependency (against the
hypervisor when nothing is applied, else against the payload on top; --nodeps
skips it), then patches at a rendezvous of every CPU.`,
    example: "lpkit apply hello\n  lpkit apply bye --nodeps",
  },
  revert: {
    text: `Reverts <name>, which must be the top of the applied stack.`,
    example: "lpkit revert hello",
  },
  replace: {
    text: `Replaces every applied payload with <name> in one rendezvous: all are
reverted, then <name> is applied (its build-id must match the hypervisor).`,
    example: "lpkit replace replace",
  },
  unload: {
    text: `Unloads <name>, which must not be applied.`,
    example: "lpkit unload hello",
  },
};

function actionUsage(action: ActionName): string {
  const a = ABOUT[action];
  const nodeps = action === "apply"
    ? "  --nodeps          Disable inter-module buildid dependency check.\n" +
      "                    Check only against hypervisor buildid.\n"
    : "";
  return `Usage: lpkit ${action} <name>${
    action === "apply" ? " [--nodeps]" : ""
  } [--timeout D] [--wait D] [--state DIR] [--json]

${a.text}

As xen-livepatch does, it prints "No action needed." when the payload is
already in the expected state, "<name> is in the wrong state." when it may
not be ${
    action === "unload" ? "unloaded" : `${action === "apply" ? "appli" : action}ed`
  }, and "Cannot execute <name>." while another action on it
is pending. Then "<Verb> <name>... completed" or "failed". Unlike the tool,
lpkit lets the host run until the action completes (or --wait runs out:
"Operation didn't complete.", exit 2).

Options:
${nodeps}  --timeout D       The rendezvous timeout passed to Xen (default 30ms, as the tool)
  --wait D          How long to let the simulated host run for it (default: 2 x timeout)
${HOST_OPTIONS_USAGE}

Exit codes: 0 done or nothing to do, 1 error, 2 retry (EAGAIN, EBUSY).

Examples:
  ${a.example}
  lpkit ${action} hello --json
`;
}

function actionCommand(action: ActionName): Command {
  return {
    name: action,
    usage: actionUsage(action),
    run(args, io) {
      const a = parseActionArgs(args, this.usage, action === "apply");
      if (a.help) {
        io.stdout(this.usage);
        return 0;
      }
      if (a.unsupported !== undefined) {
        io.stderr(`Unsupported flag: ${a.unsupported}.\n`);
        return 1;
      }
      if (a.positionals.length !== 1) {
        throw new CliError("USAGE", `${action} takes exactly one payload name\n\n${this.usage}`);
      }
      const name = a.positionals[0];
      const ctx = hostContext(io, a.state);
      return withHost(ctx.io, ctx.dir, { write: true, progress: ctx.progress }, (session) => {
        const { report, exitCode } = toolAction(session, toolOutput(io, a.json), action, name, {
          nodeps: a.nodeps,
          timeoutNs: a.timeoutNs,
          waitNs: a.waitNs,
          onSlice: (ns) =>
            ctx.progress.update(`${action} ${name}: ${(ns / 1e6).toFixed(0)} ms simulated`),
        });
        ctx.progress.done();
        if (a.json) io.stdout(toJson(report));
        return exitCode;
      });
    },
  };
}
/** `lpkit apply`. */
export const applyCommand: Command = actionCommand("apply");
/** `lpkit revert`. */
export const revertCommand: Command = actionCommand("revert");
/** `lpkit replace`. */
export const replaceCommand: Command = actionCommand("replace");
/** `lpkit unload`. */
export const unloadCommand: Command = actionCommand("unload");
