// Differential tests: the same committed machine code (testdata/kernels.bin) runs on the real CPU
// (testdata/harness.c, compiled with gcc at test time) and in the emulator on the same random
// inputs; results, memory and defined flags must be identical. Without gcc the native side is
// skipped, except under CI=true where it is mandatory.
import assert from "node:assert/strict";
import { Decoder, Instruction, RflagsBits } from "iced-x86";
import {
  type Case,
  haveCommand,
  inCi,
  kernelMachine,
  loadKernels,
  type Outcome,
  runEmulated,
  runNative,
  SCRATCH,
  Values,
} from "./_testing.ts";

const K = loadKernels();

function kernelCases(seed: number, perKernel: number): Case[] {
  const v = new Values(seed);
  const cases: Case[] = [];
  const six = () => [v.u64(), v.u64(), v.u64(), v.u64(), v.u64(), v.u64()];
  const small = (n: number) => BigInt(v.rng.below(n));
  for (let i = 0; i < perKernel; i++) {
    for (
      const fn of [
        "k_arith8",
        "k_arith16",
        "k_arith32",
        "k_arith64",
        "k_cond",
        "k_div",
        "k_bits",
        "k_extend",
        "k_switch",
      ]
    ) cases.push({ fn, args: six(), scratch: new Uint8Array(0) });
    const s = six();
    s[0] = SCRATCH;
    const str = v.bytes(512, 10);
    if (i % 2 === 0) str.copyWithin(Number(s[2]! & 255n), Number(s[1]! & 255n), 300);
    cases.push({ fn: "k_string", args: [...s], scratch: str });
    cases.push({ fn: "k_repstr", args: [...s], scratch: v.bytes(512, 10) });
    cases.push({
      fn: "k_hash",
      args: [SCRATCH, small(512), v.u64(), v.u64(), 0n, 0n],
      scratch: v.bytes(512),
    });
    cases.push({ fn: "k_atomic", args: [...s], scratch: v.bytes(256) });
    cases.push({ fn: "k_bitfield", args: [...s], scratch: v.bytes(32) });
    if (i % 4 === 0) {
      const arr = v.bytes(256);
      if (i % 8 === 0) { for (let k = 0; k < 256; k += 8) arr[k] = arr[0]!; // duplicates
       }
      cases.push({ fn: "k_sort", args: [SCRATCH, small(64), small(3), 0n, 0n, 0n], scratch: arr });
      cases.push({
        fn: "k_recurse",
        args: [small(13), small(3), small(5), 0n, 0n, 0n],
        scratch: new Uint8Array(0),
      });
    }
  }
  return cases;
}

const OUT = SCRATCH + 256n; // r8 of the ALU snippets; flags at scratch[256..264)

function opNames(): string[] {
  return Object.keys(K.symbols).filter((n) => n.startsWith("op_") && !n.endsWith("_insn"));
}

function widthOf(name: string): number {
  const m = /^op_[a-z]+?([bwlq])(_|$)/.exec(name);
  return m ? { b: 1, w: 2, l: 4, q: 8 }[m[1] as "b" | "w" | "l" | "q"] : 8;
}

/** Make division inputs valid (a #DE would kill the native harness). */
function fixDivision(name: string, a: bigint, b: bigint, c: bigint): [bigint, bigint, bigint] {
  const w = widthOf(name);
  const bits = BigInt(w * 8);
  const signed = name.startsWith("op_idiv");
  const dividend = w === 1
    ? a & 0xffffn
    : ((c & ((1n << bits) - 1n)) << bits) | (a & ((1n << bits) - 1n));
  let divisor = b & ((1n << bits) - 1n);
  let ok = divisor !== 0n;
  if (ok) {
    if (signed) {
      const q = BigInt.asIntN(w * 16, dividend) / BigInt.asIntN(w * 8, divisor);
      ok = BigInt.asIntN(w * 8, q) === q;
    } else ok = dividend / divisor < (1n << bits);
  }
  if (ok) return [a, b, c];
  divisor = 1n;
  const low = a & ((1n << bits) - 1n);
  const negative = signed && BigInt.asIntN(w * 8, low) < 0n;
  const b1 = (b & ~((1n << bits) - 1n)) | divisor;
  // 8-bit division takes its dividend from AX alone: make AH the extension of AL.
  if (w === 1) return [(a & ~0xff00n) | (negative ? 0xff00n : 0n), b1, c];
  return [a, b1, negative ? BigInt.asUintN(64, -1n) : 0n];
}

function aluCases(seed: number, perOp: number): Case[] {
  const v = new Values(seed);
  const cases: Case[] = [];
  for (const fn of opNames()) {
    for (let i = 0; i < perOp; i++) {
      let a = v.u64(), b = v.u64(), c = v.u64();
      if (/^op_(shl|shr|sar|rol|ror|rcl|rcr|shld|shrd)/.test(fn)) {
        c = BigInt(v.rng.below(4) === 0 ? v.rng.below(256) : v.rng.below(70));
        // 16-bit SHLD/SHRD by a masked count above 16 leaves the result undefined (SDM).
        if (/^op_sh[lr]dw/.test(fn) && (c & 31n) > 16n) c &= 15n;
      }
      if (/^op_bt[src]?[wlq]_mr/.test(fn)) b = BigInt.asUintN(64, BigInt(v.rng.below(400) - 200));
      if (/^op_i?div/.test(fn)) [a, b, c] = fixDivision(fn, a, b, c);
      if (i % 3 === 0 && /cmpxchg/.test(fn)) c = a; // make the comparison succeed sometimes
      const flags = BigInt(v.rng.next() & 0x8d5) | 2n;
      cases.push({ fn, args: [a, b, c, c, OUT, flags], scratch: v.bytes(512) });
    }
  }
  return cases;
}

/** Arithmetic flags an instruction leaves defined (iced `rflagsUndefined` removed). */
function definedFlags(fn: string): number {
  const off = K.symbols[`${fn}_insn`];
  assert.ok(off !== undefined, `missing ${fn}_insn`);
  const dec = new Decoder(64, K.bin.subarray(off, off + 15), 0);
  const ins = new Instruction();
  try {
    dec.decodeOut(ins);
    const u = ins.rflagsUndefined;
    let mask = 0x8d5;
    if (u & RflagsBits.OF) mask &= ~0x800;
    if (u & RflagsBits.SF) mask &= ~0x80;
    if (u & RflagsBits.ZF) mask &= ~0x40;
    if (u & RflagsBits.AF) mask &= ~0x10;
    if (u & RflagsBits.CF) mask &= ~0x1;
    if (u & RflagsBits.PF) mask &= ~0x4;
    return mask;
  } finally {
    ins.free();
    dec.free();
  }
}

function describe(c: Case): string {
  return `${c.fn}(${c.args.map((a) => "0x" + a.toString(16)).join(", ")})`;
}

/** The masked count of a shift or rotate case, or undefined for other instructions. */
function shiftCount(c: Case): number | undefined {
  const m = /^op_(shl|shr|sar|rol|ror|rcl|rcr|shld|shrd)([bwlq])_(cl|mcl|1|i3|i9)$/.exec(c.fn);
  if (!m) return undefined;
  const raw = m[3] === "1" ? 1 : m[3] === "i3" ? 3 : m[3] === "i9" ? 9 : Number(c.args[3]! & 0xffn);
  return raw & (m[2] === "q" ? 63 : 31);
}

/** Flags defined for this case: OF of a shift or rotate is defined only for a count of 1. */
function caseMask(c: Case, masks: Map<string, number>): number | undefined {
  const mask = masks.get(c.fn);
  if (mask === undefined) return undefined;
  const n = shiftCount(c);
  return n !== undefined && n !== 1 ? mask & ~0x800 : mask;
}

function compare(cases: Case[], emu: Outcome[], nat: Outcome[], flagMasks?: Map<string, number>) {
  let mismatches = 0;
  const report: string[] = [];
  for (let i = 0; i < cases.length; i++) {
    const c = cases[i]!, e = emu[i]!, n = nat[i]!;
    let es = e.scratch, ns = n.scratch;
    const mask = flagMasks && caseMask(c, flagMasks);
    if (mask !== undefined) {
      const dv = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);
      es = es.slice(), ns = ns.slice();
      dv(es).setUint32(256, dv(es).getUint32(256, true) & mask, true);
      dv(ns).setUint32(256, dv(ns).getUint32(256, true) & mask, true);
      dv(es).setUint32(260, 0), dv(ns).setUint32(260, 0);
    }
    const same = e.rax === n.rax && es.length === ns.length && es.every((b, k) => b === ns[k]);
    if (!same) {
      mismatches++;
      if (report.length < 10) {
        let where = es.findIndex((b, k) => b !== ns[k]);
        if (e.rax !== n.rax) where = -1;
        report.push(
          `${describe(c)}: emu rax=0x${e.rax.toString(16)} native rax=0x${n.rax.toString(16)}` +
            (where >= 0 ? ` first memory difference at scratch+${where}` : ""),
        );
      }
    }
  }
  assert.equal(
    mismatches,
    0,
    `${mismatches} of ${cases.length} cases differ:\n${report.join("\n")}`,
  );
}

const native = await haveCommand("gcc");
if (!native && inCi()) {
  Deno.test("differential tests need gcc under CI", () => {
    assert.fail("gcc is required when CI=true (native side of the differential tests)");
  });
}

const MODES = [["interpreter", "off"], ["block compiler", "eager"]] as const;

Deno.test({
  name: "emulator matches the native CPU on C kernels (random inputs)",
  ignore: !native,
  fn: async (t) => {
    const cases = kernelCases(20261125, 180);
    const nat = await runNative(K, cases);
    for (const [label, mode] of MODES) {
      await t.step(label, () => {
        const m = kernelMachine(K, 1, mode);
        compare(cases, runEmulated(m, K, cases), nat);
      });
    }
  },
});

Deno.test({
  name: "emulator matches the native CPU on every ALU form, including defined flags",
  ignore: !native,
  fn: async (t) => {
    const cases = aluCases(77, 8);
    const masks = new Map(opNames().map((n) => [n, definedFlags(n)]));
    const nat = await runNative(K, cases);
    for (const [label, mode] of MODES) {
      await t.step(label, () => {
        const m = kernelMachine(K, 1, mode);
        compare(cases, runEmulated(m, K, cases), nat, masks);
      });
    }
  },
});
