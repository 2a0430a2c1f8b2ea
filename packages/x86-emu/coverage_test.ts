// Static coverage of the interpreter over all of Debian's xen-syms .text (a real measurement).
import assert from "node:assert/strict";
import { parseElf } from "@lpkit/elf";
import { measureCoverage } from "./mod.ts";
import { inCi, readXenSyms, XEN_SYMS } from "./_testing.ts";

const bytes = readXenSyms();
if (bytes === undefined && inCi()) {
  Deno.test("coverage needs xen-syms under CI", () => assert.fail(`${XEN_SYMS} is missing`));
}

/** What may fault by design: VMX/SVM, shadow stacks, PKU, TSX, x87/XSAVE state, AVX... */
const BY_DESIGN_FAMILIES =
  /^(Vm|Inv|Stgi|Clgi|Skinit|Wrss|Rdssp|Incssp|Setssbsy|Clrssbsy|Saveprevssp|Rstorssp|Wrpkru|Rdpkru|Xbegin|Xend|Xabort|Xtest|X?save|Xrstor|Fx|F[a-z]|Ld|Stmxcsr|Vp|Vzero|Movdir|Enqcmd|Int$|Sys|Retf|Lar|Lsl|Verr|Verw|Outs|Ins|Crc32|Mwait|Monitor|Rdp|Jmp$|Call$)/;

Deno.test({
  name: "coverage: the interpreter implements at least 99% of xen-syms .text",
  ignore: bytes === undefined,
  fn() {
    const elf = parseElf(bytes!);
    const text = elf.sectionByName(".text")!;
    const r = measureCoverage(elf.sectionData(text), text.address);
    assert.ok(r.instructions > 370_000, `decoded ${r.instructions} instructions`);
    assert.ok(r.instructionPercent >= 99, `${r.instructionPercent}% of instructions`);
    assert.equal(
      r.implementedInstructions + r.byDesignInstructions +
        r.missing.reduce((n, e) => n + e.count, 0),
      r.instructions,
    );
    assert.deepEqual(r.missing, [], "everything not implemented is deliberate");
    for (const e of r.byDesign) {
      assert.match(e.name, BY_DESIGN_FAMILIES, `${e.name} faults by design`);
    }
    assert.ok(r.formPercent > 80 && r.forms > 450, `${r.implementedForms}/${r.forms} forms`);
    console.log(
      `xen-syms .text: ${r.instructions} instructions, ${r.instructionPercent}% implemented ` +
        `(${r.byDesignInstructions} fault by design); ${r.implementedForms} of ${r.forms} forms ` +
        `(${r.formPercent}%), ${r.byDesignForms} by design; ${r.invalid} undecodable bytes`,
    );
  },
});
