/**
 * Static instruction coverage of the interpreter over a code region (e.g. xen-syms `.text`).
 *
 * @module
 */

import { Code, Decoder, Instruction, Mnemonic } from "iced-x86";
import { IMPL_BY_DESIGN, IMPL_YES, recordFromIced } from "./decoder.ts";
import "./interp.ts";

/** Count per instruction form or mnemonic. */
export interface CoverageEntry {
  /** iced `Code` or `Mnemonic` name. */
  name: string;
  /** Static occurrences. */
  count: number;
}

/** Coverage figures. */
export interface CoverageReport {
  /** Decoded instructions (invalid ones excluded). */
  instructions: number;
  /** Instructions with semantics. */
  implementedInstructions: number;
  /** Instructions that fault by design (VMX/SVM, x87/XSAVE, AVX, CET, TSX ...). */
  byDesignInstructions: number;
  /** Invalid encodings met by the linear sweep (data in text, padding). */
  invalid: number;
  /** Distinct iced `Code` values. */
  forms: number;
  /** Distinct forms with semantics. */
  implementedForms: number;
  /** Distinct forms faulting by design. */
  byDesignForms: number;
  /** Implemented share of instructions, %. */
  instructionPercent: number;
  /** Implemented share excluding by-design instructions, %. */
  instructionPercentExcludingByDesign: number;
  /** Implemented share of forms, %. */
  formPercent: number;
  /** Forms not implemented (gaps), most frequent first. */
  missing: CoverageEntry[];
  /** Mnemonics faulting by design, most frequent first. */
  byDesign: CoverageEntry[];
}

/**
 * Decode `bytes` (linear sweep) and report which share of instruction forms (iced `Code`) and
 * of static instructions the interpreter implements.
 *
 * @param bytes Code bytes.
 * @param address Address of the first byte.
 * @param options iced decoder options (e.g. `DecoderOptions.AMD`).
 *
 * @example
 * ```ts
 * import { measureCoverage } from "@lpkit/x86-emu";
 * import assert from "node:assert/strict";
 * // push rbp; vmxoff; ret
 * const r = measureCoverage(new Uint8Array([0x55, 0x0f, 0x01, 0xc4, 0xc3]), 0x1000n);
 * assert.equal(r.instructions, 3);
 * assert.equal(r.implementedInstructions, 2);
 * assert.equal(r.byDesignInstructions, 1);
 * ```
 */
export function measureCoverage(bytes: Uint8Array, address: bigint, options = 0): CoverageReport {
  const perCode = new Map<
    number,
    { count: number; impl: number; design: number; mnemonic: number }
  >();
  let invalid = 0;
  const decoder = new Decoder(64, bytes, options);
  const ins = new Instruction();
  try {
    decoder.ip = address;
    while (decoder.canDecode) {
      const pos = decoder.position;
      decoder.decodeOut(ins);
      if (ins.isInvalid) {
        invalid++;
        continue;
      }
      // Every instruction gets its own record: the handler builder decides by operands too
      // (e.g. `mov cs, ax` or `enter` with a nesting level fault, other forms of a Code do not).
      const rec = recordFromIced(ins, bytes.subarray(pos, pos + ins.length), 0x1000);
      const e = perCode.get(ins.code);
      if (e === undefined) {
        perCode.set(ins.code, {
          count: 1,
          impl: rec.impl === IMPL_YES ? 1 : 0,
          design: 0,
          mnemonic: rec.mnemonic,
        });
      } else {
        e.count++;
        if (rec.impl === IMPL_YES) e.impl++;
      }
      if (rec.impl === IMPL_BY_DESIGN) perCode.get(ins.code)!.design++;
    }
  } finally {
    ins.free();
    decoder.free();
  }
  // A form counts as implemented when every instance is; by design when every non-implemented
  // instance is by design.
  let instructions = 0, implI = 0, designI = 0, implF = 0, designF = 0;
  const missing: CoverageEntry[] = [];
  const design = new Map<string, number>();
  for (const [code, e] of perCode) {
    instructions += e.count;
    implI += e.impl;
    designI += e.design;
    if (e.impl === e.count) implF++;
    else if (e.design === e.count - e.impl) {
      designF++;
      const n = Mnemonic[e.mnemonic] ?? String(e.mnemonic);
      design.set(n, (design.get(n) ?? 0) + e.design);
    } else missing.push({ name: Code[code] ?? String(code), count: e.count - e.impl - e.design });
  }
  missing.sort((a, b) => b.count - a.count);
  const pct = (a: number, b: number) => b === 0 ? 100 : Math.round((a / b) * 1e4) / 100;
  return {
    instructions,
    implementedInstructions: implI,
    byDesignInstructions: designI,
    invalid,
    forms: perCode.size,
    implementedForms: implF,
    byDesignForms: designF,
    instructionPercent: pct(implI, instructions),
    instructionPercentExcludingByDesign: pct(implI, instructions - designI),
    formPercent: pct(implF, perCode.size),
    missing,
    byDesign: [...design].map(([name, count]) => ({ name, count })).sort((a, b) =>
      b.count - a.count
    ),
  };
}
