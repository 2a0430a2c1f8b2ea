// x86-64 emulator: the k_bench workload (every C kernel of packages/x86-emu/testdata/kernels.c,
// built with Xen's code generation flags, on fresh inputs each round) in lpkit's emulator (block
// compiler and interpreter), in Unicorn (Debian's python3-unicorn), in qemu-x86_64 (user mode,
// a static native driver) and natively, in one run. Every engine runs the same bytes at the same
// address and must return the same rax. MIPS are counted the same way for all: lpkit's retired
// instruction count of one run, divided by each engine's time for it (timed inside each process,
// so start-up is excluded). Numbers only; no assertions.
import { Machine, PERM_RW, PERM_RWX } from "@lpkit/x86-emu";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import process from "node:process";
import { performance } from "node:perf_hooks";
import { available, markdownTable, median } from "./_timing.ts";

const RUNS = Number(process.env.LPKIT_BENCH_RUNS ?? 11);
const ROUNDS = Number(process.env.LPKIT_EMU_ROUNDS ?? 200);
const SCRATCH = 0x20000000n;
const SEED = 42n;

const dir = fileURLToPath(new URL("../packages/x86-emu/testdata/", import.meta.url));
const binPath = join(dir, "kernels.bin");
const meta = JSON.parse(readFileSync(join(dir, "kernels.json"), "utf8"));
const base = BigInt(meta.base), size = Number(meta.size);
const entry = Number(meta.symbols.k_bench);
const bin = new Uint8Array(readFileSync(binPath));

interface Row {
  engine: string;
  ms: number[];
  rax: string;
  note: string;
}
const rows: Row[] = [];

// lpkit ----------------------------------------------------------------------------------------
function lpkit(jit: boolean, runs: number, warmup: number): { row: Row; insns: number } {
  const m = new Machine({ cpus: 1, jit });
  m.map({ address: base, data: bin, size, perms: PERM_RWX });
  m.map({ address: SCRATCH, data: new Uint8Array(0), size: 0x10000, perms: PERM_RW });
  const c = m.cpus[0]!;
  const ms: number[] = [];
  let rax = 0n, insns = 0;
  for (let r = 0; r < warmup + runs; r++) {
    const i0 = c.icount;
    const t0 = performance.now();
    rax = m.call(0, base + BigInt(entry), [BigInt(ROUNDS), SCRATCH, SEED], { budget: 1e12 });
    const dt = performance.now() - t0;
    insns = c.icount - i0;
    if (r >= warmup) ms.push(dt);
  }
  const note = jit ? `${c.jit!.compiled} blocks compiled` : "every instruction interpreted";
  return {
    row: {
      engine: jit ? "lpkit, block compiler" : "lpkit, interpreter only",
      ms,
      rax: rax.toString(16),
      note,
    },
    insns,
  };
}

const main = lpkit(true, RUNS, 3);
const INSNS = main.insns;
rows.push(main.row);
rows.push(lpkit(false, Math.max(3, Math.ceil(RUNS / 3)), 1).row);

// Unicorn (python3-unicorn) -----------------------------------------------------------------------
const UNICORN = `
import sys, time, struct
from unicorn import Uc, UC_ARCH_X86, UC_MODE_64
from unicorn.x86_const import *
path, base, size, entry, rounds, runs = sys.argv[1], int(sys.argv[2], 16), int(sys.argv[3], 16), int(sys.argv[4], 16), int(sys.argv[5]), int(sys.argv[6])
uc = Uc(UC_ARCH_X86, UC_MODE_64)
uc.mem_map(base, size)
uc.mem_write(base, open(path, "rb").read())
uc.mem_map(0x20000000, 0x10000)
uc.mem_map(0x7f000000, 0x10000)
RET = 0x7f000000
uc.mem_write(RET, b"\\xf4")
for r in range(runs + 1):
    sp = 0x7f00f000
    uc.mem_write(sp, struct.pack("<Q", RET))
    uc.reg_write(UC_X86_REG_RSP, sp)
    for reg, v in zip([UC_X86_REG_RDI, UC_X86_REG_RSI, UC_X86_REG_RDX], [rounds, 0x20000000, 42]):
        uc.reg_write(reg, v)
    t0 = time.perf_counter_ns()
    uc.emu_start(base + entry, RET)
    t1 = time.perf_counter_ns()
    if r > 0:
        print(t1 - t0, "%x" % uc.reg_read(UC_X86_REG_RAX))
`;

function parseRuns(out: string): { ms: number[]; rax: string } {
  const lines = out.trim().split("\n").map((l) => l.trim().split(" "));
  return { ms: lines.map(([ns]) => Number(ns) / 1e6), rax: lines[lines.length - 1]![1]! };
}

const args = [binPath, base.toString(16), size.toString(16), entry.toString(16), String(ROUNDS)];
const pythons = ["/usr/bin/python3", "python3"].filter((p) =>
  spawnSync(p, ["-c", "import unicorn"], { stdio: "ignore" }).status === 0
);
if (pythons.length > 0) {
  const r = spawnSync(pythons[0]!, ["-c", UNICORN, ...args, String(RUNS)], { encoding: "utf8" });
  if (r.status === 0) {
    const version = spawnSync(pythons[0]!, ["-c", "import unicorn; print(unicorn.__version__)"], {
      encoding: "utf8",
    }).stdout.trim();
    rows.push({
      engine: "Unicorn (python3-unicorn)",
      ...parseRuns(r.stdout),
      note: `Unicorn ${version}, JIT (QEMU TCG, softmmu)`,
    });
  } else console.error(`unicorn failed: ${r.stderr}`);
} else console.error("python3 with the unicorn module is not available: Unicorn skipped");

// Native and qemu-x86_64 (one static driver) --------------------------------------------------------
const tmp = mkdtempSync(join(tmpdir(), "emu-bench-"));
try {
  const driver = join(tmp, "bench_driver");
  const cc = available("gcc")
    ? spawnSync("gcc", ["-O2", "-static", "-o", driver, join(dir, "bench_driver.c")], {
      encoding: "utf8",
    })
    : undefined;
  if (cc?.status === 0) {
    const native = spawnSync(driver, [...args, String(RUNS + 1)], { encoding: "utf8" });
    const n = parseRuns(native.stdout);
    rows.push({
      engine: "native (this CPU)",
      ms: n.ms.slice(1),
      rax: n.rax,
      note: "gcc -O2 -static driver",
    });
    if (available("qemu-x86_64")) {
      const q = spawnSync("qemu-x86_64", [driver, ...args, String(RUNS + 1)], { encoding: "utf8" });
      const version = spawnSync("qemu-x86_64", ["--version"], { encoding: "utf8" }).stdout.split(
        "\n",
      )[0]!;
      if (q.status === 0) {
        const p = parseRuns(q.stdout);
        rows.push({
          engine: "qemu-x86_64 (user mode)",
          ms: p.ms.slice(1),
          rax: p.rax,
          note: `${version.replace(/^qemu-x86_64 version /, "qemu ")}, TCG JIT`,
        });
      } else console.error(`qemu-x86_64 failed: ${q.stderr}`);
    } else console.error("qemu-x86_64 is not available: skipped");
  } else {console.error(
      `gcc -static failed or missing: native and qemu skipped ${cc?.stderr ?? ""}`,
    );}
} finally {
  rmSync(tmp, { recursive: true, force: true });
}

// Report --------------------------------------------------------------------------------------
const mips = (r: Row) => INSNS / median(r.ms) / 1000;
const ours = mips(rows[0]!);
const unicorn = rows.find((r) => r.engine.startsWith("Unicorn"));
console.log(
  `\n### x86-64 emulation: k_bench(${ROUNDS}) from kernels.c, ${INSNS.toLocaleString("en")} ` +
    `instructions per run, median of ${RUNS} runs\n`,
);
console.log(markdownTable(
  ["engine", "median ms", "median MIPS", "lpkit ÷ engine", "engine ÷ Unicorn", "same rax", "notes"],
  rows.map((r) => [
    r.engine,
    median(r.ms).toFixed(1),
    mips(r).toFixed(1),
    r === rows[0] ? "-" : `${(ours / mips(r)).toFixed(2)}x`,
    unicorn === undefined ? "-" : `${(mips(r) / mips(unicorn)).toFixed(2)}x`,
    r.rax === rows[0]!.rax ? "yes" : `NO (${r.rax})`,
    r.note,
  ]),
));
if (rows.some((r) => r.rax !== rows[0]!.rax)) process.exitCode = 1;
