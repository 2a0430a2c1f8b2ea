// Start-up of the lpkit CLI, whose every command rebuilds the host by booting
// its image and replaying the state folder's history: `lpkit list` on hosts
// with 0 and 100 payloads (100 uploaded; 100 uploaded and applied as a stack),
// through Deno and as the compiled binaries (dist/lpkit and dist/lpkit-bun, when
// built), next to
// the start-up floor of Xen's own xen-livepatch (which, without a hypervisor,
// prints "failed to get the handler" and exits: a process start, no work).
// Medians of several runs; ratio = the row's time / xen-livepatch's.
//
//   deno task bench cli            (or: deno run -A bench/cli_bench.ts [runs])
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { Host, LivepatchClient } from "@lpkit/livepatch-core";
import { craftPayload } from "../tests/crafted.ts";
import { markdownTable, median, timeCommand, timeFunction } from "./_timing.ts";
import { performance } from "node:perf_hooks";

const RUNS = Number(process.argv[2] ?? 15);
const root = fileURLToPath(new URL("..", import.meta.url));
const MINIVISOR_ID = "de19508c82473d8adf966f140a9383c4c2ed650a";
const XEN_LIVEPATCH = "/usr/lib/xen-4.17/bin/xen-livepatch";
const binary = join(root, "dist/lpkit");
const bunBinary = join(root, "dist/lpkit-bun"); // deno task compile --bun --out dist/lpkit-bun
const deno = process.execPath;
const lpkitDeno = ["run", "-A", "--quiet", join(root, "packages/cli/main.ts")];

const work = mkdtempSync(join(tmpdir(), "lpkit-bench-"));
const env = { ...process.env, NO_COLOR: "1" };

function lpkit(state: string, args: string[]) {
  const r = spawnSync(deno, [...lpkitDeno, ...args], { env: { ...env, LPKIT_STATE: state } });
  if (r.status !== 0) throw new Error(`lpkit ${args.join(" ")}: ${r.stderr}`);
}

/** 100 payloads for the minivisor; with `stacked`, each depends on the one before. */
function payloads(dir: string, stacked: boolean): string[] {
  const files: string[] = [];
  let below = MINIVISOR_ID;
  for (let i = 0; i < 100; i++) {
    const id = (0xbe000000 + i).toString(16).padStart(40, "0");
    const file = join(dir, `${stacked ? "s" : "p"}${i}.livepatch`);
    Deno.writeFileSync(
      file,
      craftPayload({ buildId: id, depends: below, xenDepends: MINIVISOR_ID, modinfo: [`n=${i}`] }),
    );
    if (stacked) below = id;
    files.push(file);
  }
  return files;
}

function host(name: string, setup: (state: string) => void): string {
  const state = join(work, name);
  lpkit(state, ["host", "init", "--example", "--cpus", "4"]);
  setup(state);
  return state;
}

console.error("preparing hosts (200 uploads, 100 applies)...");
const empty = host("empty", () => {});
const uploaded = host("uploaded", (s) => {
  payloads(work, false).forEach((f, i) => lpkit(s, ["upload", `p${i}`, f]));
});
const applied = host("applied", (s) => {
  payloads(work, true).forEach((f, i) => {
    lpkit(s, ["upload", `s${i}`, f]);
    lpkit(s, ["apply", `s${i}`]);
  });
});

const rows: string[][] = [];
const floor = existsSync(XEN_LIVEPATCH) ? median(timeCommand(XEN_LIVEPATCH, ["list"], RUNS)) : NaN;
const row = (what: string, runner: string, command: string, args: string[], state?: string) => {
  const ms = median(
    timeCommandIn(command, args, state === undefined ? env : { ...env, LPKIT_STATE: state }),
  );
  rows.push([
    what,
    runner,
    ms.toFixed(1),
    Number.isNaN(floor) ? "-" : `${(ms / floor).toFixed(1)}x`,
  ]);
};
/** Like _timing's timeCommand, with an environment: one warm-up run, then `RUNS` timed ones. */
function timeCommandIn(command: string, args: string[], e: NodeJS.ProcessEnv): number[] {
  const once = () => {
    const start = performance.now();
    const r = spawnSync(command, args, { env: e, stdio: ["ignore", "ignore", "pipe"] });
    const ms = performance.now() - start;
    if (r.status !== 0) throw new Error(`${command} ${args.join(" ")}: ${r.stderr}`);
    return ms;
  };
  once();
  return Array.from({ length: RUNS }, once);
}

if (!Number.isNaN(floor)) {
  rows.push(["xen-livepatch list (no hypervisor: start-up only)", "C", floor.toFixed(1), "1.0x"]);
}
for (
  const [runner, command, pre] of [
    ["deno run", deno, lpkitDeno],
    ...(existsSync(binary) ? [["binary (Node SEA)", binary, []] as const] : []),
    ...(existsSync(bunBinary) ? [["binary (Bun)", bunBinary, []] as const] : []),
  ] as const
) {
  row("lpkit help (no host)", runner, command, [...pre, "help"]);
  row("lpkit list, empty host", runner, command, [...pre, "list"], empty);
  row("lpkit list, 100 payloads uploaded", runner, command, [...pre, "list"], uploaded);
  row("lpkit list, 100 payloads uploaded + applied", runner, command, [...pre, "list"], applied);
}

// In-process: what a command spends rebuilding the host.
const image = readFileSync(join(root, "examples/bin/minivisor"));
const files = payloads(work, false).map((f) => readFileSync(f));
const inProcess: string[][] = [];
const boot = median(timeFunction(() => new Host(image, { cpus: 4 }), RUNS));
inProcess.push(["boot the minivisor (4 CPUs)", boot.toFixed(2)]);
const replay = median(timeFunction(() => {
  const h = new Host(image, { cpus: 4 });
  const lp = new LivepatchClient(h);
  files.forEach((b, i) => lp.upload(`p${i}`, b));
}, RUNS));
inProcess.push(["boot + replay 100 uploads", replay.toFixed(2)]);
const xenSyms = join(root, ".cache/xen/xen-syms-4.17-amd64");
if (existsSync(xenSyms)) {
  const x = readFileSync(xenSyms);
  inProcess.push([
    "boot Debian's xen-syms 4.17 (4 CPUs)",
    median(timeFunction(() => new Host(x, { cpus: 4 }), 5, 1)).toFixed(2),
  ]);
}
rmSync(work, { recursive: true, force: true });

console.log(`\nWhole process, median of ${RUNS} runs (ms):\n`);
console.log(markdownTable(["command", "runner", "median ms", "vs xen-livepatch"], rows));
console.log(`\nIn process, median (ms):\n`);
console.log(markdownTable(["step", "median ms"], inProcess));
