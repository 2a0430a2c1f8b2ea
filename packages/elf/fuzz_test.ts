// Fuzzing: mutated real and crafted files must either parse or raise ElfError,
// through every accessor. LPKIT_FUZZ_CASES sets the count (CI: 100,000; the
// `fuzz:long` task: 1,000,000), LPKIT_FUZZ_SEED the seed.
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { prng, repoPath, xenSymsPath } from "../../tests/fixtures.ts";
import {
  buildElf,
  ElfError,
  encodeNote,
  encodeRelocations,
  parseElf,
  PT,
  SHF,
  SHT,
  STB,
  STT,
} from "./mod.ts";

const CASES = Number(Deno.env.get("LPKIT_FUZZ_CASES") ?? 100_000);
const SEED = Number(Deno.env.get("LPKIT_FUZZ_SEED") ?? 0x5eed);

function crafted(): Uint8Array[] {
  return (["little", "big"] as const).flatMap((endian) =>
    ([32, 64] as const).map((klass) =>
      buildElf({
        class: klass,
        endian,
        type: 2,
        sections: [
          {
            name: ".text",
            type: SHT.PROGBITS,
            flags: SHF.ALLOC | SHF.EXECINSTR,
            address: 0x1000n,
            data: new Uint8Array(32).fill(0x90),
          },
          {
            name: ".note.gnu.build-id",
            type: SHT.NOTE,
            data: encodeNote("GNU", 3, new Uint8Array(20).fill(7), endian),
            addralign: 4n,
          },
          {
            name: ".rela.text",
            type: SHT.RELA,
            link: ".symtab",
            info: ".text",
            entsize: klass === 64 ? 24 : 12,
            data: encodeRelocations([{ offset: 4n, type: 2, symbol: 1, addend: -4n }], {
              rela: true,
              class: klass,
              endian,
            }),
          },
        ],
        symbols: [
          { name: "f.c", type: STT.FILE, section: 0xfff1 },
          { name: "fn", type: STT.FUNC, bind: STB.GLOBAL, section: ".text", value: 0x1000n },
        ],
        segments: [{ type: PT.LOAD, section: ".text" }, {
          type: PT.NOTE,
          section: ".note.gnu.build-id",
        }],
      })
    )
  );
}

function seeds(): { name: string; bytes: Uint8Array<ArrayBufferLike> }[] {
  const out = ["sample32.o", "sample64.o", "sample64.so"].map((f): {
    name: string;
    bytes: Uint8Array<ArrayBufferLike>;
  } => ({
    name: f,
    bytes: new Uint8Array(readFileSync(repoPath(`packages/elf/testdata/${f}`))),
  }));
  crafted().forEach((bytes, i) => out.push({ name: `crafted${i}`, bytes }));
  const bin = repoPath("examples/bin");
  if (existsSync(bin)) {
    for (const f of readdirSync(bin).sort()) {
      out.push({ name: f, bytes: new Uint8Array(readFileSync(`${bin}/${f}`)) });
    }
  }
  return out;
}

/** Drives every accessor, so lazily checked tables are checked too. */
function exercise(bytes: Uint8Array): void {
  const elf = parseElf(bytes);
  for (const s of elf.sections) {
    elf.sectionData(s);
    elf.sectionsByName(s.name);
    if (s.type === SHT.REL || s.type === SHT.RELA) elf.relocations(s);
    if (s.type === SHT.SYMTAB || s.type === SHT.DYNSYM) elf.symbols(s);
    if (s.type === SHT.NOTE || s.name.endsWith("depends")) elf.notes(s);
    if (s.type === SHT.STRTAB && s.size > 0) elf.stringAt(s, 0);
  }
  elf.duplicateSectionNames();
  elf.buildId();
  const index = elf.symbolIndex();
  for (const s of index.symbols.slice(0, 64)) {
    index.format(s.value);
    index.byName(index.xenName(s));
  }
}

const FIELD_VALUES = [0, 1, 2, 0x7f, 0xff, 0x100, 0xffff, 0x10000, 0x7fffffff, 0xffffffff];

function mutate(seed: Uint8Array, random: () => number): Uint8Array {
  const pick = (n: number) => Math.floor(random() * n);
  const kind = pick(6);
  if (kind === 0) return seed.subarray(0, pick(seed.length)); // truncation
  const b = new Uint8Array(seed); // a copy: Buffer#slice would alias the seed
  const view = new DataView(b.buffer);
  const is64 = b[4] === 2;
  const little = b[5] !== 2;
  const field = (at: number, width: number) => {
    if (at + width > b.length) return;
    const v = random() < 0.7 ? FIELD_VALUES[pick(FIELD_VALUES.length)] : pick(2 ** 32);
    if (width === 1) view.setUint8(at, v & 0xff);
    else if (width === 2) view.setUint16(at, v & 0xffff, little);
    else if (width === 4) view.setUint32(at, v >>> 0, little);
    else view.setBigUint64(at, BigInt(v) * (random() < 0.1 ? 1n << 32n : 1n), little);
  };
  switch (kind) {
    case 1: { // bit flips anywhere
      for (let n = 1 + pick(8); n > 0; n--) b[pick(b.length)] ^= 1 << pick(8);
      break;
    }
    case 2: { // a header field
      const offsets = is64
        ? [4, 5, 6, 16, 20, 24, 32, 40, 52, 54, 56, 58, 60, 62]
        : [4, 5, 6, 16, 20, 24, 28, 32, 40, 42, 44, 46, 48, 50];
      const at = offsets[pick(offsets.length)];
      field(
        at,
        at < 16
          ? 1
          : at >= 52 || (!is64 && at >= 40) || at === 16
          ? 2
          : is64 && at >= 24 && at < 48
          ? 8
          : 4,
      );
      break;
    }
    case 3: { // a section header field
      if (b.length < 64) break;
      const shoff = is64
        ? Number(view.getBigUint64(40, little) & 0xffffffffn)
        : view.getUint32(32, little);
      const shnum = view.getUint16(is64 ? 60 : 48, little);
      const entry = is64 ? 64 : 40;
      const at = shoff + pick(Math.max(1, shnum)) * entry;
      const fields = is64
        ? [[0, 4], [4, 4], [8, 8], [16, 8], [24, 8], [32, 8], [40, 4], [44, 4], [48, 8], [56, 8]]
        : [[0, 4], [4, 4], [8, 4], [12, 4], [16, 4], [20, 4], [24, 4], [28, 4], [32, 4], [36, 4]];
      const [off, width] = fields[pick(fields.length)];
      field(at + off, width);
      break;
    }
    case 4: { // random bytes over a random run
      const at = pick(b.length);
      for (let i = at; i < Math.min(b.length, at + 1 + pick(32)); i++) b[i] = pick(256);
      break;
    }
    default: { // a 4-byte field at a random aligned offset (symbol, reloc, note fields)
      field(pick(b.length >> 2) << 2, 4);
    }
  }
  return b;
}

Deno.test("parseElf() raises only ElfError on mutated inputs", () => {
  const random = prng(SEED);
  const pool = seeds();
  const codes = new Map<string, number>();
  let parsed = 0;
  let cases = 0;
  const run = (name: string, bytes: Uint8Array) => {
    cases++;
    try {
      exercise(bytes);
      parsed++;
    } catch (e) {
      if (!(e instanceof ElfError)) {
        assert.fail(`case ${cases} (${name}, seed ${SEED}) threw ${(e as Error).stack ?? e}`);
      }
      codes.set(e.code, (codes.get(e.code) ?? 0) + 1);
    }
  };
  // The seeds themselves parse, but for the deliberately truncated payload.
  const whole = pool.filter((s) => !s.name.includes("truncated"));
  for (const s of pool) run(s.name, s.bytes);
  assert.equal(parsed, whole.length, "every unmutated seed parses");

  // Debian's xen-syms: mutate its headers and tables (the file is 2.9 MB, so fewer cases).
  if (existsSync(xenSymsPath)) {
    const xen = new Uint8Array(readFileSync(xenSymsPath));
    for (let i = 0; i < Math.ceil(CASES / 100); i++) run("xen-syms", mutate(xen, random));
  }
  while (cases < CASES) {
    const s = pool[Math.floor(random() * pool.length)];
    run(s.name, mutate(s.bytes, random));
  }
  assert.ok(cases >= CASES);
  assert.ok(parsed > pool.length, "some mutants still parse");
  assert.ok(codes.size >= 8, `many distinct errors are reached: ${[...codes.keys()]}`);
  console.log(
    `fuzz: ${cases} cases, ${parsed} parsed, errors: ${
      [...codes].sort().map(([c, n]) => `${c}=${n}`).join(" ")
    }`,
  );
});
