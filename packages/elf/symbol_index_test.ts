import assert from "node:assert/strict";
import { type ElfSymbol, SHN, STB, STT, SymbolIndex } from "./mod.ts";

let next = 0;
function sym(over: Partial<ElfSymbol>): ElfSymbol {
  return {
    index: ++next,
    name: "",
    value: 0n,
    size: 0n,
    type: STT.FUNC,
    bind: STB.GLOBAL,
    visibility: 0,
    sectionIndex: 1,
    ...over,
  };
}

function table(): ElfSymbol[] {
  next = 0;
  return [
    { ...sym({ type: STT.NOTYPE, bind: STB.LOCAL, sectionIndex: 0 }), index: 0 },
    sym({ name: "common/a.c", type: STT.FILE, bind: STB.LOCAL, sectionIndex: SHN.ABS }),
    sym({ name: "init_one", bind: STB.LOCAL, value: 0x1000n, size: 0x10n }),
    sym({ name: "arch/b.c", type: STT.FILE, bind: STB.LOCAL, sectionIndex: SHN.ABS }),
    sym({ name: "init_one", bind: STB.LOCAL, value: 0x2000n, size: 0x20n }),
    sym({ name: "label", type: STT.NOTYPE, bind: STB.LOCAL, value: 0x3000n }),
    sym({ name: "alias_weak", bind: STB.WEAK, value: 0x4000n, size: 8n }),
    sym({ name: "alias", value: 0x4000n, size: 8n }),
    sym({ name: "end_marker", type: STT.NOTYPE, value: 0x5000n }),
    sym({ name: "undefined_fn", sectionIndex: SHN.UNDEF }),
    sym({ name: "CONST", type: STT.NOTYPE, sectionIndex: SHN.ABS, value: 0x1008n }),
  ];
}

Deno.test("SymbolIndex names local symbols file#name, as Xen does", () => {
  const index = new SymbolIndex(table());
  assert.equal(index.byName("init_one"), undefined);
  assert.equal(index.byName("common/a.c#init_one")?.value, 0x1000n);
  assert.equal(index.byName("arch/b.c#init_one")?.value, 0x2000n);
  assert.deepEqual(index.findAll("init_one").map((s) => index.xenName(s)), [
    "common/a.c#init_one",
    "arch/b.c#init_one",
  ]);
  assert.equal(index.byName("undefined_fn"), undefined, "undefined symbols are not names");
  assert.equal(index.byName("CONST")?.value, 0x1008n, "absolute symbols have names");
});

Deno.test("SymbolIndex.lookup() finds the symbol holding an address", async (t) => {
  const index = new SymbolIndex(table());
  await t.step("first, middle and last byte of a sized symbol", () => {
    assert.equal(index.format(0x1000n), "common/a.c#init_one+0x0/0x10");
    assert.equal(index.format(0x1008n), "common/a.c#init_one+0x8/0x10");
    assert.equal(index.format(0x100fn), "common/a.c#init_one+0xf/0x10");
  });
  await t.step("one byte past the end belongs to nobody", () => {
    assert.equal(index.lookup(0x1010n), undefined);
    assert.equal(index.format(0x1010n), "0x1010");
  });
  await t.step("below the first symbol", () => assert.equal(index.lookup(0xfffn), undefined));
  await t.step("an unsized symbol extends to the next one", () => {
    assert.equal(index.format(0x3ff0n), "arch/b.c#label+0xff0/0x1000");
  });
  await t.step("the global wins over a weak alias at the same address", () => {
    assert.equal(index.lookup(0x4004n)?.symbol.name, "alias");
  });
  await t.step("the last unsized symbol holds only its own address", () => {
    assert.equal(index.format(0x5000n), "end_marker+0x0/0x0");
    assert.equal(index.lookup(0x5001n), undefined);
  });
});

Deno.test("SymbolIndex.lookup() agrees with a linear scan on random tables", () => {
  let seed = 12345;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let round = 0; round < 200; round++) {
    next = 0;
    const symbols = Array.from({ length: 1 + Math.floor(random() * 30) }, (_, i) =>
      sym({
        name: `s${i}`,
        value: BigInt(Math.floor(random() * 4096)) + 0xffff82d040000000n,
        size: BigInt(1 + Math.floor(random() * 64)),
      }));
    const index = new SymbolIndex(symbols);
    for (let probe = 0; probe < 50; probe++) {
      const address = BigInt(Math.floor(random() * 4200)) + 0xffff82d040000000n;
      const holders = symbols.filter((s) => s.value <= address && address < s.value + s.size);
      const found = index.lookup(address);
      if (found === undefined) {
        // Only when the nearest symbol below does not hold the address.
        const below = symbols.filter((s) => s.value <= address);
        const top = below.reduce((m, s) => (s.value > m ? s.value : m), -1n);
        assert.ok(!below.some((s) => s.value === top && address < s.value + s.size));
      } else {
        assert.ok(holders.includes(found.symbol));
        assert.equal(found.offset, address - found.symbol.value);
      }
    }
  }
});
