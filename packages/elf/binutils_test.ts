// Differential tests: the reader against GNU readelf and nm on real files
// (gcc/ld output, the examples, Debian's xen-syms).
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import {
  ignoreWithout,
  ignoreWithoutXenSyms,
  repoPath,
  runTool,
  xenSymsPath,
} from "../../tests/fixtures.ts";
import { type ElfFile, parseElf, SHN, STB, STT, STV } from "./mod.ts";

function realFiles(): string[] {
  const files = ["sample32.o", "sample64.o", "sample64.so"].map((f) =>
    repoPath(`packages/elf/testdata/${f}`)
  );
  const bin = repoPath("examples/bin");
  if (existsSync(bin)) {
    for (const f of readdirSync(bin).sort()) {
      // Deliberately truncated payloads are for the loader's tests, not this one.
      if (!f.includes("truncated")) files.push(`${bin}/${f}`);
    }
  }
  if (existsSync(xenSymsPath)) files.push(xenSymsPath);
  return files;
}

const hex = (s: string) => BigInt(`0x${s}`);

function compareSections(elf: ElfFile, path: string): void {
  const rows = runTool("readelf", ["-SW", path]).split("\n").flatMap((line) => {
    const m = line.match(
      /^\s*\[\s*(\d+)\]\s(.*?)\s+\S+\s+([0-9a-f]+)\s([0-9a-f]+)\s([0-9a-f]+)\s([0-9a-f]+)\s+[A-Za-z]*\s+(\d+)\s+(\d+)\s+(\d+)$/,
    );
    return m ? [m] : [];
  });
  assert.equal(rows.length, elf.sections.length, `${path}: section count`);
  for (const m of rows) {
    const s = elf.sections[Number(m[1])];
    assert.equal(s.name, m[2].trim(), `${path}: section ${m[1]} name`);
    assert.deepEqual(
      [s.address, BigInt(s.offset), BigInt(s.size), BigInt(s.entsize)],
      [hex(m[3]), hex(m[4]), hex(m[5]), hex(m[6])],
      `${path}: section ${s.name}`,
    );
    assert.deepEqual([s.link, s.info, s.addralign], [Number(m[7]), Number(m[8]), BigInt(m[9])]);
  }
}

const TYPES: Record<string, number> = {
  NOTYPE: STT.NOTYPE,
  OBJECT: STT.OBJECT,
  FUNC: STT.FUNC,
  SECTION: STT.SECTION,
  FILE: STT.FILE,
  TLS: STT.TLS,
};
const BINDS: Record<string, number> = { LOCAL: STB.LOCAL, GLOBAL: STB.GLOBAL, WEAK: STB.WEAK };
const VIS: Record<string, number> = {
  DEFAULT: STV.DEFAULT,
  HIDDEN: STV.HIDDEN,
  PROTECTED: STV.PROTECTED,
  INTERNAL: STV.INTERNAL,
};
const NDX: Record<string, number> = { UND: SHN.UNDEF, ABS: SHN.ABS, COM: SHN.COMMON };

function compareSymbols(elf: ElfFile, path: string): number {
  let table = "";
  let checked = 0;
  for (const line of runTool("readelf", ["-sW", path]).split("\n")) {
    const head = line.match(/^Symbol table '(.*)' contains (\d+) entr/);
    if (head) {
      table = head[1];
      const section = elf.sectionByName(table)!;
      assert.equal(elf.symbols(section).length, Number(head[2]), `${path}: ${table} size`);
      continue;
    }
    const m = line.match(
      /^\s*(\d+):\s([0-9a-f]+)\s+(0x[0-9a-f]+|\d+)\s(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s?(.*)$/,
    );
    if (!m) continue;
    const s = elf.symbols(elf.sectionByName(table)!)[Number(m[1])];
    const where = `${path}: ${table}[${m[1]}]`;
    assert.equal(s.value, hex(m[2]), `${where} value`);
    assert.equal(s.size, BigInt(m[3]), `${where} size`);
    assert.equal(s.type, TYPES[m[4]] ?? Number(m[4].replace(/^<.*: (\d+)>$/, "$1")), where);
    assert.equal(s.bind, BINDS[m[5]], `${where} bind`);
    assert.equal(s.visibility, VIS[m[6]], `${where} visibility`);
    assert.equal(s.sectionIndex, NDX[m[7]] ?? Number(m[7]), `${where} section`);
    if (s.type !== STT.SECTION) assert.equal(s.name, m[8], `${where} name`);
    checked++;
  }
  return checked;
}

function compareRelocations(elf: ElfFile, path: string): number {
  let section = "";
  let index = 0;
  let checked = 0;
  for (const line of runTool("readelf", ["-rW", path]).split("\n")) {
    const head = line.match(/^Relocation section '(.*)' at offset/);
    if (head) {
      section = head[1];
      index = 0;
      continue;
    }
    const m = line.match(/^([0-9a-f]{8,16})\s+([0-9a-f]{8,16})\s+\S+/);
    if (!m || section === "") continue;
    const r = elf.relocations(elf.sectionByName(section)!)[index++];
    const info = elf.header.class === 64
      ? (BigInt(r.symbolIndex) << 32n) | BigInt(r.type)
      : BigInt((r.symbolIndex << 8) | r.type);
    assert.deepEqual([r.offset, info], [hex(m[1]), hex(m[2])], `${path}: ${section}[${index}]`);
    checked++;
  }
  return checked;
}

Deno.test({
  name: "parseElf() agrees with readelf on real files",
  ignore: ignoreWithout("readelf"),
  fn: async (t) => {
    for (const path of realFiles()) {
      await t.step(path.replace(/.*\//, ""), () => {
        const elf = parseElf(readFileSync(path));
        compareSections(elf, path);
        const symbols = compareSymbols(elf, path);
        assert.ok(symbols > 0, "readelf listed symbols");
        compareRelocations(elf, path);
        const id = runTool("readelf", ["-n", path]).match(/Build ID: ([0-9a-f]+)/)?.[1];
        if (elf.header.type !== 1 || id !== undefined) assert.equal(elf.buildId(), id);
      });
    }
  },
});

Deno.test({
  name: "SymbolIndex agrees with nm -S on real executables",
  ignore: ignoreWithout("nm"),
  fn: async (t) => {
    const executables = realFiles().filter((p) => parseElf(readFileSync(p)).header.type === 2);
    for (const path of executables) {
      await t.step(path.replace(/.*\//, ""), () => {
        const index = parseElf(readFileSync(path)).symbolIndex();
        let checked = 0;
        for (const line of runTool("nm", ["-S", "--defined-only", path]).split("\n")) {
          const m = line.match(/^([0-9a-f]{16}) (?:([0-9a-f]{16}) )?([A-Za-z]) (\S+)$/);
          if (!m) continue;
          const candidates = index.findAll(m[4]);
          assert.ok(
            candidates.some((s) =>
              s.value === hex(m[1]) && (m[2] === undefined || s.size === hex(m[2]))
            ),
            `${path}: nm's ${m[4]} at ${m[1]}`,
          );
          checked++;
        }
        assert.ok(checked > 10);
      });
    }
  },
});

Deno.test({
  name: "xen-syms: facts that readelf and nm report",
  ignore: ignoreWithoutXenSyms,
  fn: () => {
    const elf = parseElf(readFileSync(xenSymsPath));
    // readelf -n: the build-id the live-patch tests depend on.
    assert.equal(elf.buildId(), "151b373fd64b321593bf987fd923cd10dabadac4");
    // readelf -h / -S: 13 sections, 2 program headers, .text at Xen's base.
    assert.equal(elf.sections.length, 13);
    assert.equal(elf.segments.length, 2);
    assert.equal(elf.sectionByName(".text")?.address, 0xffff82d040200000n);
    // readelf -s: 7251 entries; nm: 6885 symbols (FILE symbols and the null entry aside).
    assert.equal(elf.symbols().length, 7251);
    const named = elf.symbols().filter((s) => s.index > 0 && s.type !== STT.FILE);
    assert.equal(named.length, 6885);
    // nm -S: ffff82d040234b20 000000000000000c T xen_extra_version
    const index = elf.symbolIndex();
    const extra = index.byName("xen_extra_version");
    assert.equal(extra?.value, 0xffff82d040234b20n);
    assert.equal(extra?.size, 0xcn);
    assert.equal(index.format(0xffff82d040234b2bn), "xen_extra_version+0xb/0xc");
    // Local symbols take their file's name, as in Xen's own symbol table.
    assert.equal(index.byName("idle_loop"), undefined);
    assert.ok(index.byName("arch/x86/domain.c#idle_loop"));
    assert.equal(index.fileOf(index.findAll("idle_loop")[0]), "arch/x86/domain.c");
  },
});
