/**
 * Test helpers (private): fixtures, the native harness, xen-syms access, CI rules.
 *
 * @module
 */

import { Machine } from "./machine.ts";
import { PERM_RW, PERM_RWX } from "./memory.ts";
import { Prng } from "./scheduler.ts";

const here = new URL(".", import.meta.url);

/** True when running under CI (`CI=true`): optional prerequisites become mandatory. */
export function inCi(): boolean {
  return Deno.env.get("CI") === "true";
}

/** The kernels fixture. */
export interface Kernels {
  /** Link address. */
  base: bigint;
  /** Bytes to map (image + bss + slack). */
  size: number;
  /** The image. */
  bin: Uint8Array;
  /** Symbol offsets from base. */
  symbols: Record<string, number>;
  /** Path of kernels.bin. */
  binPath: string;
}

/** Load testdata/kernels.{bin,json}. */
export function loadKernels(): Kernels {
  const json = JSON.parse(Deno.readTextFileSync(new URL("testdata/kernels.json", here)));
  const binPath = new URL("testdata/kernels.bin", here).pathname;
  return {
    base: BigInt(json.base),
    size: Number(json.size),
    bin: Deno.readFileSync(binPath),
    symbols: json.symbols,
    binPath,
  };
}

/** Scratch buffer address shared by the harness and the emulator. */
export const SCRATCH = 0x20000000n;
/** Scratch buffer size. */
export const SCRATCH_SIZE = 0x10000;

/** One differential test case. */
export interface Case {
  /** Symbol name. */
  fn: string;
  /** Six integer arguments. */
  args: bigint[];
  /** Initial scratch contents. */
  scratch: Uint8Array;
}

/** Result of a case: rax and the scratch contents afterwards. */
export interface Outcome {
  /** rax. */
  rax: bigint;
  /** Scratch afterwards (same length as the input scratch). */
  scratch: Uint8Array;
}

/**
 * A machine with the kernels and the scratch buffer mapped. `jit`: the block compiler mode
 * (`"eager"` compiles every block at its first execution, so compiled code runs everything).
 */
export function kernelMachine(k: Kernels, cpus = 1, jit: "off" | "eager" | "on" = "on"): Machine {
  const m = new Machine({
    cpus,
    jit: jit === "off" ? false : jit === "eager" ? { threshold: 1 } : true,
  });
  m.map({ address: k.base, data: k.bin, size: k.size, perms: PERM_RWX });
  m.map({ address: SCRATCH, data: new Uint8Array(0), size: SCRATCH_SIZE, perms: PERM_RW });
  return m;
}

/** Run cases in the emulator. */
export function runEmulated(m: Machine, k: Kernels, cases: readonly Case[]): Outcome[] {
  return cases.map((c) => {
    m.memory.write(SCRATCH, c.scratch);
    const rax = m.call(0, k.base + BigInt(k.symbols[c.fn]!), c.args, { budget: 5_000_000 });
    return { rax, scratch: m.memory.read(SCRATCH, c.scratch.length) };
  });
}

function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

function unhex(s: string): Uint8Array {
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Whether a command can be run. */
export async function haveCommand(cmd: string): Promise<boolean> {
  try {
    const r = await new Deno.Command(cmd, { args: ["--version"], stdout: "null", stderr: "null" })
      .output();
    return r.success;
  } catch {
    return false;
  }
}

/** Compile harness.c with gcc into a temp dir and run the cases natively. */
export async function runNative(k: Kernels, cases: readonly Case[]): Promise<Outcome[]> {
  const dir = await Deno.makeTempDir({ prefix: "x86emu-harness-" });
  try {
    const exe = `${dir}/harness`;
    const cc = await new Deno.Command("gcc", {
      args: ["-O2", "-o", exe, new URL("testdata/harness.c", here).pathname],
    }).output();
    if (!cc.success) throw new Error(`gcc failed: ${new TextDecoder().decode(cc.stderr)}`);
    const input = cases.map((c) =>
      [
        k.symbols[c.fn]!.toString(16),
        ...c.args.map((a) => BigInt.asUintN(64, a).toString(16)),
        c.scratch.length.toString(16),
        hex(c.scratch),
      ].join(" ")
    ).join("\n") + "\n";
    const child = new Deno.Command(exe, {
      args: [k.binPath, "0x" + k.base.toString(16), "0x" + k.size.toString(16)],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    // Feed stdin while stdout drains: the harness answers as it reads, and a full pipe
    // on either side would otherwise deadlock.
    const feed = (async () => {
      const w = child.stdin.getWriter();
      await w.write(new TextEncoder().encode(input));
      await w.close();
    })();
    const [out] = await Promise.all([child.output(), feed]);
    if (!out.success) throw new Error(`harness failed with ${out.code}`);
    const lines = new TextDecoder().decode(out.stdout).trimEnd().split("\n");
    if (lines.length !== cases.length) {
      throw new Error(`harness answered ${lines.length} of ${cases.length} cases`);
    }
    return lines.map((l) => {
      const [r, s] = l.split(" ");
      return { rax: BigInt("0x" + r), scratch: unhex(s ?? "") };
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Random 64-bit values biased towards edge cases. */
export class Values {
  readonly rng: Prng;
  static readonly EDGES: bigint[] = [
    0n,
    1n,
    2n,
    0x7fn,
    0x80n,
    0xffn,
    0x100n,
    0x7fffn,
    0x8000n,
    0xffffn,
    0x7fffffffn,
    0x80000000n,
    0xffffffffn,
    0x100000000n,
    0x7fffffffffffffffn,
    0x8000000000000000n,
    0xffffffffffffffffn,
    0xfffffffffffffffen,
    0x8000000000000001n,
    0x123456789abcdef0n,
  ];

  /** @param seed PRNG seed. */
  constructor(seed: number) {
    this.rng = new Prng(seed);
  }

  /** A random 64-bit value. */
  u64(): bigint {
    const r = this.rng.below(8);
    if (r < 3) return Values.EDGES[this.rng.below(Values.EDGES.length)]!;
    if (r === 3) return BigInt(this.rng.below(70));
    if (r === 4) return BigInt.asUintN(64, -BigInt(this.rng.below(70)));
    return (BigInt(this.rng.next()) << 32n) | BigInt(this.rng.next());
  }

  /** `n` random bytes. */
  bytes(n: number, zeroBias = 0): Uint8Array {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = this.rng.below(100) < zeroBias ? 0 : this.rng.below(256);
    return b;
  }
}

/** Path of the Debian xen-syms used by the tests. */
export const XEN_SYMS = new URL("../../.cache/xen/xen-syms-4.17-amd64", here).pathname;

/** Read xen-syms, or undefined when absent (callers fail under CI, skip otherwise). */
export function readXenSyms(): Uint8Array | undefined {
  try {
    return Deno.readFileSync(XEN_SYMS);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
}

/** Where {@linkcode snippet} maps code and data. */
export const SNIPPET_CODE = 0x400000n;
/** Data area of {@linkcode snippet} (64 KiB, RW). */
export const SNIPPET_DATA = 0x600000n;

/** The two execution modes most tests run in. */
export const JIT_MODES = [["interpreter", false], ["block compiler", { threshold: 1 }]] as const;

/** A machine running hand-assembled bytes at SNIPPET_CODE (RX) with data at SNIPPET_DATA. */
export function snippet(
  code: readonly number[],
  options: ConstructorParameters<typeof Machine>[0] = {},
): Machine {
  const m = new Machine({ cpus: 1, ...options });
  m.map({ address: SNIPPET_CODE, data: new Uint8Array(code), size: 4096, perms: 5 });
  m.map({ address: SNIPPET_DATA, data: new Uint8Array(0), size: 0x10000, perms: PERM_RW });
  return m;
}

/** Run `fn` and return the CpuFault it throws. */
export function expectFault<T extends Error>(fn: () => unknown, type: new (...a: never[]) => T): T {
  try {
    fn();
  } catch (e) {
    if (e instanceof type) return e;
    throw e;
  }
  throw new Error(`expected ${type.name}`);
}
