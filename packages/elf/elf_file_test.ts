import assert from "node:assert/strict";
import {
  buildElf,
  ElfError,
  type ElfErrorCode,
  type ElfSpec,
  encodeNote,
  encodeRelocations,
  NT_GNU,
  parseElf,
  PT,
  type SectionSpec,
  SHF,
  SHN,
  SHT,
  STB,
  STT,
  STV,
} from "./mod.ts";
import { prng } from "../../tests/fixtures.ts";

const VARIANTS = [
  { class: 64, endian: "little" },
  { class: 64, endian: "big" },
  { class: 32, endian: "little" },
  { class: 32, endian: "big" },
] as const;

function sampleSpec(variant: { class: 32 | 64; endian: "little" | "big" }): ElfSpec {
  const id = Uint8Array.from({ length: 20 }, (_, i) => i * 7);
  return {
    ...variant,
    type: 2,
    entry: 0x401000n,
    sections: [
      {
        name: ".text",
        type: SHT.PROGBITS,
        flags: SHF.ALLOC | SHF.EXECINSTR,
        address: 0x401000n,
        data: new Uint8Array([0xf3, 0x0f, 0x1e, 0xfa, 0xc3, 0xc3]),
        addralign: 16n,
      },
      {
        name: ".note.gnu.build-id",
        type: SHT.NOTE,
        flags: SHF.ALLOC,
        address: 0x402000n,
        data: encodeNote("GNU", NT_GNU.BUILD_ID, id, variant.endian),
        addralign: 4n,
      },
      { name: ".bss", type: SHT.NOBITS, flags: SHF.ALLOC | SHF.WRITE, size: 4096, addralign: 8n },
      {
        name: ".rela.text",
        type: SHT.RELA,
        link: ".symtab",
        info: ".text",
        entsize: variant.class === 64 ? 24 : 12,
        data: encodeRelocations(
          [{ offset: 1n, type: 2, symbol: 2, addend: -4n }, { offset: 4n, type: 1, symbol: 1 }],
          { rela: true, ...variant },
        ),
      },
      {
        name: ".rel.text",
        type: SHT.REL,
        link: ".symtab",
        info: ".text",
        entsize: variant.class === 64 ? 16 : 8,
        data: encodeRelocations([{ offset: 2n, type: 10, symbol: 3 }], { rela: false, ...variant }),
      },
    ],
    symbols: [
      { name: "file.c", type: STT.FILE, section: SHN.ABS },
      { name: "local_fn", type: STT.FUNC, section: ".text", value: 0x401004n, size: 1n },
      {
        name: "entry",
        type: STT.FUNC,
        bind: STB.GLOBAL,
        section: ".text",
        value: 0x401000n,
        size: 5n,
        visibility: STV.HIDDEN,
      },
      { name: "undefined_sym", bind: STB.GLOBAL },
    ],
    segments: [
      { type: PT.LOAD, flags: 5, section: ".text" },
      { type: PT.NOTE, flags: 4, section: ".note.gnu.build-id", align: 4n },
    ],
  };
}

function expectElfError(code: ElfErrorCode, bytes: Uint8Array, exercise?: (b: Uint8Array) => void) {
  assert.throws(
    () => {
      const elf = parseElf(bytes);
      exercise?.(bytes);
      elf.symbols();
    },
    (e: unknown) => {
      assert.ok(e instanceof ElfError, `expected ElfError, got ${e}`);
      assert.equal(e.code, code, e.message);
      assert.ok(Number.isInteger(e.offset) && e.offset >= 0 && e.offset <= bytes.length);
      assert.doesNotMatch(e.message, /\n/);
      return true;
    },
  );
}

Deno.test("parseElf() reads every class and byte order the writer produces", async (t) => {
  for (const variant of VARIANTS) {
    await t.step(`ELF${variant.class} ${variant.endian} endian`, () => {
      const elf = parseElf(buildElf(sampleSpec(variant)));
      assert.equal(elf.header.class, variant.class);
      assert.equal(elf.header.endian, variant.endian);
      assert.equal(elf.header.type, 2);
      assert.equal(elf.header.entry, 0x401000n);

      const names = elf.sections.map((s) => s.name);
      assert.deepEqual(names, [
        "",
        ".text",
        ".note.gnu.build-id",
        ".bss",
        ".rela.text",
        ".rel.text",
        ".symtab",
        ".strtab",
        ".shstrtab",
      ]);
      const text = elf.sectionByName(".text")!;
      assert.equal(text.address, 0x401000n);
      assert.equal(text.addralign, 16n);
      assert.deepEqual([...elf.sectionData(text)], [0xf3, 0x0f, 0x1e, 0xfa, 0xc3, 0xc3]);
      const bss = elf.sectionByName(".bss")!;
      assert.equal(bss.size, 4096);
      assert.equal(elf.sectionData(bss).length, 0);

      assert.equal(
        elf.buildId(),
        Array.from({ length: 20 }, (_, i) => (i * 7).toString(16).padStart(2, "0")).join(""),
      );

      const symbols = elf.symbols();
      assert.equal(symbols.length, 5);
      assert.deepEqual(
        symbols.map((s) => [s.name, s.type, s.bind, s.visibility, s.sectionIndex, s.value, s.size]),
        [
          ["", 0, 0, 0, 0, 0n, 0n],
          ["file.c", STT.FILE, STB.LOCAL, 0, SHN.ABS, 0n, 0n],
          ["local_fn", STT.FUNC, STB.LOCAL, 0, 1, 0x401004n, 1n],
          ["entry", STT.FUNC, STB.GLOBAL, STV.HIDDEN, 1, 0x401000n, 5n],
          ["undefined_sym", 0, STB.GLOBAL, 0, 0, 0n, 0n],
        ],
      );

      const rela = elf.relocations(elf.sectionByName(".rela.text")!);
      assert.deepEqual(rela.map((r) => [r.offset, r.type, r.symbolIndex, r.addend]), [
        [1n, 2, 2, -4n],
        [4n, 1, 1, 0n],
      ]);
      const rel = elf.relocations(elf.sectionByName(".rel.text")!);
      assert.deepEqual(rel.map((r) => [r.offset, r.type, r.symbolIndex, r.addend]), [[
        2n,
        10,
        3,
        0n,
      ]]);

      assert.deepEqual(elf.segments.map((p) => [p.type, p.flags, p.vaddr]), [
        [PT.LOAD, 5, 0x401000n],
        [PT.NOTE, 4, 0x402000n],
      ]);
      const index = elf.symbolIndex();
      assert.equal(index.byName("file.c#local_fn")?.value, 0x401004n);
      assert.equal(index.format(0x401002n), "entry+0x2/0x5");
    });
  }
});

Deno.test("parseElf() round-trips random section and symbol tables", async (t) => {
  for (const variant of VARIANTS) {
    await t.step(`ELF${variant.class} ${variant.endian}`, () => {
      const random = prng(variant.class * 31 + variant.endian.length);
      for (let round = 0; round < 50; round++) {
        const nsec = 1 + Math.floor(random() * 12);
        const sections = Array.from({ length: nsec }, (_, i): SectionSpec => {
          const nobits = random() < 0.2;
          const size = Math.floor(random() * 64);
          return {
            name: `.s${i}${random() < 0.3 ? ".long.name.with.dots" : ""}`,
            type: nobits ? SHT.NOBITS : SHT.PROGBITS,
            flags: BigInt(Math.floor(random() * 8)),
            address: BigInt(Math.floor(random() * 2 ** 31)) * (variant.class === 64 ? 4096n : 1n),
            addralign: 1n << BigInt(Math.floor(random() * 6)),
            ...(nobits
              ? { size }
              : { data: Uint8Array.from({ length: size }, () => Math.floor(random() * 256)) }),
          };
        });
        const nsym = Math.floor(random() * 40);
        const symbols = Array.from({ length: nsym }, (_, i) => ({
          name: random() < 0.1 ? "" : `sym_${i}_${Math.floor(random() * 1e6)}`,
          value: BigInt(Math.floor(random() * 2 ** 32)),
          size: BigInt(Math.floor(random() * 1000)),
          type: [STT.NOTYPE, STT.OBJECT, STT.FUNC][Math.floor(random() * 3)],
          bind: i < nsym / 2 ? STB.LOCAL : STB.GLOBAL,
          visibility: Math.floor(random() * 4),
          section: Math.floor(random() * (nsec + 1)),
        }));
        const elf = parseElf(buildElf({ ...variant, sections, symbols }));
        for (const [i, spec] of sections.entries()) {
          const s = elf.sections[i + 1];
          assert.equal(s.name, spec.name);
          assert.equal(s.type, spec.type);
          assert.equal(s.flags, spec.flags);
          assert.equal(s.address, spec.address);
          assert.equal(s.addralign, spec.addralign);
          if (spec.data) assert.deepEqual(elf.sectionData(s), spec.data);
          else assert.equal(s.size, spec.size);
        }
        const read = elf.symbols().slice(1);
        assert.equal(read.length, symbols.length);
        for (const [i, spec] of symbols.entries()) {
          const s = read[i];
          assert.deepEqual(
            [s.name, s.value, s.size, s.type, s.bind, s.visibility, s.sectionIndex],
            [spec.name, spec.value, spec.size, spec.type, spec.bind, spec.visibility, spec.section],
          );
        }
      }
    });
  }
});

Deno.test("parseElf() resolves extended section numbering through section 0", () => {
  const bytes = buildElf(sampleSpec({ class: 64, endian: "little" }));
  const view = new DataView(bytes.buffer);
  const shoff = Number(view.getBigUint64(40, true));
  const shnum = view.getUint16(60, true);
  const shstrndx = view.getUint16(62, true);
  view.setUint16(60, 0, true); // e_shnum = 0: the count is in section 0's sh_size
  view.setUint16(62, SHN.XINDEX, true); // the index is in section 0's sh_link
  view.setBigUint64(shoff + 32, BigInt(shnum), true);
  view.setUint32(shoff + 40, shstrndx, true);
  const elf = parseElf(bytes);
  assert.equal(elf.header.shnum, shnum);
  assert.equal(elf.header.shstrndx, shstrndx);
  assert.equal(elf.sections[shstrndx].name, ".shstrtab");
});

Deno.test("sectionByName() reports duplicate names", () => {
  const elf = parseElf(buildElf({
    sections: [
      { name: ".livepatch.funcs", type: SHT.PROGBITS, data: new Uint8Array(104) },
      { name: ".livepatch.funcs", type: SHT.PROGBITS, data: new Uint8Array(8) },
    ],
  }));
  assert.throws(() => elf.sectionByName(".livepatch.funcs"), {
    name: "ElfError",
    code: "DUPLICATE_SECTION",
  });
  assert.deepEqual(elf.sectionsByName(".livepatch.funcs").map((s) => s.index), [1, 2]);
  assert.deepEqual(elf.duplicateSectionNames(), [".livepatch.funcs"]);
  assert.equal(elf.sectionByName(".nope"), undefined);
});

Deno.test("notes() reads every note of a section, of any type", () => {
  const a = encodeNote("GNU", NT_GNU.BUILD_ID, new Uint8Array([1, 2, 3]));
  const b = encodeNote("Xen", 6, new Uint8Array(8).fill(0xaa));
  const elf = parseElf(buildElf({
    sections: [{
      name: ".livepatch.depends",
      type: SHT.PROGBITS,
      data: new Uint8Array([...a, ...b]),
    }],
  }));
  const notes = elf.notes(elf.sectionByName(".livepatch.depends")!);
  assert.deepEqual(notes.map((n) => [n.name, n.type, [...n.desc]]), [
    ["GNU", 3, [1, 2, 3]],
    ["Xen", 6, [0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa]],
  ]);
  assert.equal(elf.buildId(), undefined, "a PROGBITS section is not searched for the file's id");
});

Deno.test("parseElf() raises a typed error for each malformation", async (t) => {
  const good = () => buildElf(sampleSpec({ class: 64, endian: "little" }));
  const with64 = (f: (v: DataView, b: Uint8Array) => void) => {
    const b = good();
    f(new DataView(b.buffer), b);
    return b;
  };
  const shoff = (v: DataView) => Number(v.getBigUint64(40, true));
  const shdr = (v: DataView, i: number) => shoff(v) + i * 64;
  const index = (name: string) => parseElf(good()).sectionByName(name)!.index;

  await t.step("TRUNCATED", () => expectElfError("TRUNCATED", good().subarray(0, 40)));
  await t.step("BAD_MAGIC", () => expectElfError("BAD_MAGIC", with64((_, b) => (b[1] = 0x46))));
  await t.step("BAD_CLASS", () => expectElfError("BAD_CLASS", with64((_, b) => (b[4] = 3))));
  await t.step("BAD_ENCODING", () => expectElfError("BAD_ENCODING", with64((_, b) => (b[5] = 0))));
  await t.step(
    "BAD_VERSION",
    () => expectElfError("BAD_VERSION", with64((v) => v.setUint32(20, 2, true))),
  );
  await t.step(
    "BAD_ENTRY_SIZE",
    () => expectElfError("BAD_ENTRY_SIZE", with64((v) => v.setUint16(58, 40, true))),
  );
  await t.step(
    "BAD_TABLE",
    () => expectElfError("BAD_TABLE", with64((v) => v.setUint16(60, 500, true))),
  );
  await t.step(
    "BAD_SHSTRNDX",
    () => expectElfError("BAD_SHSTRNDX", with64((v) => v.setUint16(62, 1, true))),
  );
  await t.step(
    "BAD_NULL_SECTION",
    () => expectElfError("BAD_NULL_SECTION", with64((v) => v.setUint32(shdr(v, 0) + 4, 1, true))),
  );
  await t.step(
    "BAD_BOUNDS",
    () =>
      expectElfError("BAD_BOUNDS", with64((v) => v.setBigUint64(shdr(v, 1) + 32, 1n << 40n, true))),
  );
  await t.step(
    "BAD_ALIGNMENT",
    () => expectElfError("BAD_ALIGNMENT", with64((v) => v.setBigUint64(shdr(v, 1) + 48, 3n, true))),
  );
  await t.step(
    "BAD_STRING (section name)",
    () => expectElfError("BAD_STRING", with64((v) => v.setUint32(shdr(v, 1), 0xffff, true))),
  );
  await t.step(
    "BAD_LINK",
    () =>
      expectElfError(
        "BAD_LINK",
        with64((v) => v.setUint32(shdr(v, index(".symtab")) + 40, 1, true)),
      ),
  );
  await t.step(
    "BAD_ENTSIZE",
    () =>
      expectElfError(
        "BAD_ENTSIZE",
        with64((v) => v.setBigUint64(shdr(v, index(".symtab")) + 56, 16n, true)),
      ),
  );
  await t.step("BAD_SYMBOL", () => {
    const b = good();
    const elf = parseElf(b);
    const symtab = elf.sectionByName(".symtab")!;
    new DataView(b.buffer).setUint16(symtab.offset + 2 * 24 + 6, 0x500, true);
    expectElfError("BAD_SYMBOL", b);
  });
  await t.step("BAD_STRING (symbol name)", () => {
    const b = good();
    const symtab = parseElf(b).sectionByName(".symtab")!;
    new DataView(b.buffer).setUint32(symtab.offset + 24, 0x7fffffff, true);
    expectElfError("BAD_STRING", b);
  });
  await t.step("BAD_NOTE", () => {
    const b = good();
    const note = parseElf(b).sectionByName(".note.gnu.build-id")!;
    new DataView(b.buffer).setUint32(note.offset + 4, 0xffffffff, true);
    expectElfError("BAD_NOTE", b, (bytes) => parseElf(bytes).buildId());
  });
  await t.step(
    "TOO_LARGE",
    () =>
      expectElfError("TOO_LARGE", with64((v) => v.setBigUint64(shdr(v, 1) + 24, 1n << 60n, true))),
  );
  await t.step("BAD_SECTION_TYPE", () => {
    const elf = parseElf(good());
    assert.throws(() => elf.relocations(elf.sectionByName(".text")!), { code: "BAD_SECTION_TYPE" });
    assert.throws(() => elf.symbols(elf.sectionByName(".text")!), { code: "BAD_SECTION_TYPE" });
  });
  await t.step("BAD_SYMBOL (relocation)", () => {
    const b = good();
    const rela = parseElf(b).sectionByName(".rela.text")!;
    new DataView(b.buffer).setUint32(rela.offset + 12, 99, true);
    expectElfError("BAD_SYMBOL", b, (bytes) => {
      const elf = parseElf(bytes);
      elf.relocations(elf.sectionByName(".rela.text")!);
    });
  });
});

Deno.test("notes() reads nothing from a section whose bytes are not in the file", () => {
  // Found by the fuzzer: SHT_NULL sections' offset and size are not checked, so
  // notes() must not trust them.
  const b = buildElf({
    sections: [{
      name: ".livepatch.depends",
      type: SHT.PROGBITS,
      data: encodeNote("GNU", 3, new Uint8Array(20)),
    }],
  });
  const view = new DataView(b.buffer);
  const header = parseElf(b).sectionByName(".livepatch.depends")!.headerOffset;
  view.setUint32(header + 4, SHT.NULL, true);
  view.setBigUint64(header + 24, 0xfffffffn, true); // offset far past the end
  const elf = parseElf(b);
  assert.deepEqual(elf.notes(elf.sectionByName(".livepatch.depends")!), []);
});
