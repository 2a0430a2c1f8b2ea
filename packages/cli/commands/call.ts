/**
 * `lpkit call <symbol> [args]`: runs a hypervisor function on an emulated
 * CPU of the host, with every applied patch in effect.
 *
 * @module
 */
import { type Host, LivepatchError } from "@lpkit/livepatch-core";
import {
  type Command,
  helpRequested,
  HOST_OPTIONS,
  HOST_OPTIONS_USAGE,
  parseCommandArgs,
  readInput,
  withNegativeNumbers,
} from "../command.ts";
import { CliError } from "../errors.ts";
import { toJson } from "../format.ts";
import { ephemeralHost, type Performed, withHost } from "../session.ts";
import { parseCount, parseInteger } from "../units.ts";
import { hostContext } from "./_host_io.ts";

/** The `lpkit.call/1` document. */
export interface CallReport {
  schema: "lpkit.call/1";
  /** What was asked for: a symbol or a 0x address. */
  target: string;
  /** The function's address. */
  address: bigint;
  /** `name+0xoff/0xsize` of the address (Xen's %pS). */
  symbol: string;
  /** The arguments (rdi, rsi, rdx, rcx, r8, r9), as 64-bit values. */
  args: bigint[];
  /** The CPU it ran on. */
  cpu: number;
  /** rax on return. */
  rax: bigint;
  /** rax as a signed 64-bit decimal string. */
  signed: string;
  /** With --string: the NUL-terminated string at rax, else null. */
  string: string | null;
  /** Instructions executed. */
  instructions: number;
  /** Simulated time it took (ns). */
  ns: number;
  /** Whether its effects were recorded in the host's history (--keep). */
  kept: boolean;
}

const USAGE = `Usage: lpkit call <symbol|0xaddress> [args...] [options]
       lpkit call --image ELF <symbol|0xaddress> [args...] [options]

Runs a hypervisor function on an emulated CPU of the host, with every
applied live patch in effect, and prints what it returned (rax; with
--string, the C string rax points to). Up to six integer arguments go in
rdi, rsi, rdx, rcx, r8, r9 (decimal, 0x hex, negative allowed).

By default the call leaves the host as it was (its memory writes and the
time it took are not kept); --keep records it in the host's history, so
its effects stay. With --image, the function runs on a fresh host booted
from ELF, without a state folder.

Options:
  --string          Print the string rax points to
  --cpu N           The CPU to run on (default: the first idle one)
  --budget N        Instructions allowed before giving up (default 50,000,000)
  --keep            Keep the call's effects (recorded in the history)
  --background      Start it as a background task on the CPU (it runs while simulated
                    time passes: during actions and \`host run\`; recorded)
  --image ELF       Run on a fresh host booted from this image (no state folder)
  --cpus N          With --image: the host's CPUs (default 1)
${HOST_OPTIONS_USAGE}

Examples:
  lpkit call xen_extra_version --string
  lpkit call xen_major_version
  lpkit call --image examples/bin/minivisor xen_extra_version --string --json
`;

/** `lpkit call`. */
export const callCommand: Command = {
  name: "call",
  usage: USAGE,
  run(argsIn, io) {
    const guarded = withNegativeNumbers(argsIn);
    const { values, positionals: raw } = parseCommandArgs(guarded.args, USAGE, {
      ...HOST_OPTIONS,
      string: { type: "boolean" },
      cpu: { type: "string" },
      budget: { type: "string" },
      keep: { type: "boolean" },
      background: { type: "boolean" },
      image: { type: "string" },
      cpus: { type: "string" },
    });
    if (helpRequested(io, values, USAGE)) return 0;
    const positionals = guarded.restore(raw);
    if (positionals.length < 1) throw new CliError("USAGE", `call needs a function\n\n${USAGE}`);
    const [target, ...rest] = positionals;
    if (rest.length > 6) throw new CliError("USAGE", "call takes at most six arguments (rdi..r9)");
    const args = rest.map((a, i) => parseInteger(a, `argument ${i + 1}`));
    const budget = values.budget === undefined
      ? 50_000_000
      : parseCount(values.budget.replaceAll("_", ""), "--budget", 1, 1e12);
    if (
      values.image !== undefined && (values.keep || values.background || values.state !== undefined)
    ) {
      throw new CliError(
        "USAGE",
        "--image runs without a state folder: no --state, --keep or --background",
      );
    }

    const report = (host: Host, cpu: number, rax: bigint, t0: number, i0: number): CallReport => {
      const address = host.resolve(target)!;
      return {
        schema: "lpkit.call/1",
        target,
        address,
        symbol: host.symbolize(address),
        args,
        cpu,
        rax,
        signed: BigInt.asIntN(64, rax).toString(),
        string: values.string ? host.readString(rax) : null,
        instructions: host.cpus.retired - i0,
        ns: host.cpus.nowNs - t0,
        kept: values.keep === true,
      };
    };
    const print = (r: CallReport) => {
      if (values.json) io.stdout(toJson(r));
      else if (r.string !== null) io.stdout(`${r.string}\n`);
      else io.stdout(`0x${r.rax.toString(16)} (${r.signed})\n`);
      return 0;
    };
    const check = (host: Host) => {
      if (host.resolve(target) === undefined) {
        throw new LivepatchError(
          "ENOENT",
          "SYMBOL",
          `no function named ${target} in the image or a loaded payload`,
          {
            symbol: target,
          },
        );
      }
      const cpu = values.cpu === undefined
        ? host.idleCpu()
        : parseCount(values.cpu, "--cpu", 0, host.cpus.count - 1);
      return cpu;
    };
    const result = (done: Performed) => {
      if (done.outcome.crash !== undefined) throw done.error;
      return done.rax!;
    };

    if (values.image !== undefined) {
      const cpus = values.cpus === undefined ? 1 : parseCount(values.cpus, "--cpus", 1, 64);
      const host = ephemeralHost(readInput(io, values.image), { cpus });
      const cpu = check(host);
      const t0 = host.cpus.nowNs, i0 = host.cpus.retired;
      const rax = host.call(target, args, { cpu, budget });
      return print(report(host, cpu, rax, t0, i0));
    }
    const ctx = hostContext(io, values.state);
    const write = values.keep === true || values.background === true;
    return withHost(ctx.io, ctx.dir, { write, progress: ctx.progress }, (session) => {
      const host = session.host;
      const cpu = check(host);
      if (values.background === true) {
        const hex = args.map((a) => `0x${a.toString(16)}`);
        session.run({ op: "task", target, args: hex, cpu });
        if (values.json) {
          io.stdout(
            toJson({ schema: "lpkit.task/1", target, address: host.resolve(target)!, args, cpu }),
          );
        } else io.stdout(`Started ${target} on CPU${cpu} in the background (see \`lpkit cpus\`)\n`);
        return 0;
      }
      const t0 = host.cpus.nowNs, i0 = host.cpus.retired;
      const op = {
        op: "call",
        target,
        args: args.map((a) => `0x${a.toString(16)}`),
        cpu,
        budget,
      } as const;
      const done = session.run(op, { record: () => values.keep === true });
      return print(report(host, cpu, result(done), t0, i0));
    });
  },
};
