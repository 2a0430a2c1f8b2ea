/**
 * The ELF file: header, section and program header tables, and the lazily
 * read tables behind them. Everything is a view over the caller's bytes.
 *
 * @module
 */
import { ByteReader, isValidAlignment, readCString, toSafeNumber } from "./_bytes.ts";
import { ELFCLASS, ELFDATA, PT, SHN, SHT } from "./constants.ts";
import { ElfError } from "./errors.ts";
import { type ElfNote, findBuildId, readNotes } from "./notes.ts";
import { type ElfRelocation, readRelocations } from "./relocations.ts";
import { SymbolIndex } from "./symbol_index.ts";
import { type ElfSymbol, readSymbols } from "./symbols.ts";

/** The ELF file header (`Elf32_Ehdr` / `Elf64_Ehdr`), with extended numbering resolved. */
export interface ElfHeader {
  /** 32 or 64 (`EI_CLASS`). */
  readonly class: 32 | 64;
  /** Byte order (`EI_DATA`). */
  readonly endian: "little" | "big";
  /** `EI_OSABI`. */
  readonly osabi: number;
  /** `EI_ABIVERSION`. */
  readonly abiVersion: number;
  /** `e_type`: see {@linkcode ET}. */
  readonly type: number;
  /** `e_machine`: see {@linkcode EM}. */
  readonly machine: number;
  /** `e_version`; always 1 once parsed. */
  readonly version: number;
  /** `e_entry`. */
  readonly entry: bigint;
  /** `e_phoff`. */
  readonly phoff: number;
  /** `e_shoff`. */
  readonly shoff: number;
  /** `e_flags`. */
  readonly flags: number;
  /** `e_ehsize`. */
  readonly ehsize: number;
  /** `e_phentsize`. */
  readonly phentsize: number;
  /** Number of program headers (from section 0's `sh_info` when `e_phnum` is `PN_XNUM`). */
  readonly phnum: number;
  /** `e_shentsize`. */
  readonly shentsize: number;
  /** Number of sections (from section 0's `sh_size` when `e_shnum` is 0). */
  readonly shnum: number;
  /** Index of the section name table (from section 0's `sh_link` when `SHN_XINDEX`). */
  readonly shstrndx: number;
}

/** A section header, decoded. Sizes and offsets are numbers, addresses bigints. */
export interface ElfSection {
  /** Index in the section header table. */
  readonly index: number;
  /** Name from the section name table ("" when there is none). */
  readonly name: string;
  /** `sh_name`: offset of the name in the section name table. */
  readonly nameOffset: number;
  /** `sh_type`: see {@linkcode SHT}. */
  readonly type: number;
  /** `sh_flags`: see {@linkcode SHF}. */
  readonly flags: bigint;
  /** `sh_addr`. */
  readonly address: bigint;
  /** `sh_offset`. */
  readonly offset: number;
  /** `sh_size` (for `SHT_NOBITS`, the size in memory). */
  readonly size: number;
  /** `sh_link`. */
  readonly link: number;
  /** `sh_info`. */
  readonly info: number;
  /** `sh_addralign`: 0 or a power of two. */
  readonly addralign: bigint;
  /** `sh_entsize`. */
  readonly entsize: number;
  /** File offset of this section's header, for error reports. */
  readonly headerOffset: number;
}

/** A program header (`Elf*_Phdr`), decoded. */
export interface ElfSegment {
  /** Index in the program header table. */
  readonly index: number;
  /** `p_type`: see {@linkcode PT}. */
  readonly type: number;
  /** `p_flags`: see {@linkcode PF}. */
  readonly flags: number;
  /** `p_offset`. */
  readonly offset: number;
  /** `p_vaddr`. */
  readonly vaddr: bigint;
  /** `p_paddr`. */
  readonly paddr: bigint;
  /** `p_filesz`. */
  readonly filesz: number;
  /** `p_memsz`. */
  readonly memsz: bigint;
  /** `p_align`. */
  readonly align: bigint;
  /** File offset of this program header, for error reports. */
  readonly headerOffset: number;
}

const EHDR_SIZE = { 32: 52, 64: 64 } as const;
const SHDR_SIZE = { 32: 40, 64: 64 } as const;
const PHDR_SIZE = { 32: 32, 64: 56 } as const;
const PN_XNUM = 0xffff;

/**
 * A parsed ELF file. Construct it with {@linkcode parseElf}.
 *
 * The header and both header tables are read and checked up front; symbol,
 * relocation and note tables are read (and checked) when first asked for.
 * Every error is an {@linkcode ElfError}.
 *
 * @example Reading a section and the build-id
 * ```ts
 * import { parseElf } from "@lpkit/elf";
 * import { readFileSync } from "node:fs";
 * import assert from "node:assert/strict";
 *
 * const elf = parseElf(readFileSync("examples/bin/minivisor"));
 * const text = elf.sectionByName(".text");
 * assert.ok(text !== undefined && elf.sectionData(text).length === text.size);
 * assert.match(elf.buildId() ?? "", /^[0-9a-f]{40}$/);
 * ```
 */
export class ElfFile {
  /** The file's bytes, as given to {@linkcode parseElf} (never copied). */
  readonly bytes: Uint8Array;
  /** The file header. */
  readonly header: ElfHeader;
  /** All section headers, in table order (index 0 is the null section). */
  readonly sections: readonly ElfSection[];
  /** All program headers, in table order. */
  readonly segments: readonly ElfSegment[];

  readonly #reader: ByteReader;
  readonly #byName = new Map<string, ElfSection[]>();
  readonly #symbols = new Map<number, readonly ElfSymbol[]>();
  #symbolIndex: SymbolIndex | undefined;

  /** @internal Use {@linkcode parseElf}. */
  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
    const { reader, header } = readHeader(bytes);
    this.#reader = reader;
    this.header = header;
    this.sections = readSections(reader, header);
    this.segments = readSegments(reader, header);
    for (const section of this.sections) {
      const list = this.#byName.get(section.name);
      if (list === undefined) this.#byName.set(section.name, [section]);
      else list.push(section);
    }
  }

  /**
   * The section named `name`, or undefined. Throws `DUPLICATE_SECTION` when
   * several sections share the name: use {@linkcode ElfFile.sectionsByName}
   * to pick one deliberately (Xen, for one, takes the first).
   */
  sectionByName(name: string): ElfSection | undefined {
    const list = this.#byName.get(name);
    if (list === undefined) return undefined;
    if (list.length > 1) {
      throw new ElfError(
        "DUPLICATE_SECTION",
        list[1].headerOffset,
        `Section "${name}" appears ${list.length} times (indices ${
          list.map((s) => s.index).join(", ")
        })`,
      );
    }
    return list[0];
  }

  /** Every section named `name`, in table order (empty when there is none). */
  sectionsByName(name: string): readonly ElfSection[] {
    return this.#byName.get(name) ?? [];
  }

  /** Names that more than one section carries (the null section's "" aside). */
  duplicateSectionNames(): string[] {
    const out: string[] = [];
    for (const [name, list] of this.#byName) {
      if (list.length > 1 && !(name === "" && list.every((s) => s.type === SHT.NULL))) {
        out.push(name);
      }
    }
    return out;
  }

  /**
   * The section's bytes in the file, as a view (no copy). `SHT_NOBITS` and
   * `SHT_NULL` sections have none: the view is empty and `section.size` is
   * the size in memory.
   */
  sectionData(section: ElfSection): Uint8Array {
    if (section.type === SHT.NOBITS || section.type === SHT.NULL) {
      return this.bytes.subarray(0, 0);
    }
    return this.bytes.subarray(section.offset, section.offset + section.size);
  }

  /** The NUL-terminated string at `offset` of the string table `table`. */
  stringAt(table: ElfSection, offset: number): string {
    if (table.type !== SHT.STRTAB) {
      throw new ElfError(
        "BAD_SECTION_TYPE",
        table.headerOffset,
        `Section ${table.index} (${table.name}) is not a string table`,
      );
    }
    const s = offset < table.size
      ? readCString(this.bytes, table.offset + offset, table.offset + table.size)
      : undefined;
    if (s === undefined) {
      throw new ElfError(
        "BAD_STRING",
        table.offset + Math.min(offset, table.size),
        `String at offset ${offset} of ${table.name} is out of range or unterminated`,
      );
    }
    return s;
  }

  /**
   * The symbol table: `.symtab` (`SHT_SYMTAB`), else the dynamic one, else
   * undefined. When several `SHT_SYMTAB` sections exist, the first is used.
   */
  symbolTableSection(): ElfSection | undefined {
    return this.sections.find((s) => s.type === SHT.SYMTAB) ??
      this.sections.find((s) => s.type === SHT.DYNSYM);
  }

  /**
   * The symbols of `table` (by default {@linkcode ElfFile.symbolTableSection}),
   * index 0 (the null symbol) included so that indices match relocations.
   * Empty when the file has no symbol table.
   */
  symbols(table: ElfSection | undefined = this.symbolTableSection()): readonly ElfSymbol[] {
    if (table === undefined) return [];
    let symbols = this.#symbols.get(table.index);
    if (symbols === undefined) {
      symbols = readSymbols(this.#reader, this.sections, table);
      this.#symbols.set(table.index, symbols);
    }
    return symbols;
  }

  /**
   * The lookup index over {@linkcode ElfFile.symbols}: by name (with Xen's
   * `file#name` for local symbols) and by address. Built once, then cached.
   */
  symbolIndex(): SymbolIndex {
    this.#symbolIndex ??= new SymbolIndex(this.symbols());
    return this.#symbolIndex;
  }

  /** The entries of a `SHT_REL` or `SHT_RELA` section. */
  relocations(section: ElfSection): ElfRelocation[] {
    return readRelocations(this.#reader, this.sections, section);
  }

  /**
   * The notes in `section`, whatever its type (live-patch payloads keep
   * build-id notes in `SHT_PROGBITS` sections such as `.livepatch.depends`).
   */
  notes(section: ElfSection): ElfNote[] {
    // Through sectionData(): only its bytes are known to lie inside the file
    // (NULL and NOBITS sections have none).
    const size = this.sectionData(section).length;
    return readNotes(this.#reader, section.offset, size, section.addralign === 8n ? 8 : 4);
  }

  /**
   * The GNU build-id as lower-case hex: from `.note.gnu.build-id`, else any
   * `SHT_NOTE` section, else any `PT_NOTE` segment; undefined if none has one.
   */
  buildId(): string | undefined {
    const named = this.sectionsByName(".note.gnu.build-id");
    const noteSections = this.sections.filter((s) => s.type === SHT.NOTE);
    for (const section of [...named, ...noteSections]) {
      const id = findBuildId(this.notes(section));
      if (id !== undefined) return id;
    }
    for (const segment of this.segments) {
      if (segment.type !== PT.NOTE) continue;
      const align = segment.align === 8n ? 8 : 4;
      const id = findBuildId(readNotes(this.#reader, segment.offset, segment.filesz, align));
      if (id !== undefined) return id;
    }
    return undefined;
  }
}

/**
 * Parses an ELF file (ELF32 or ELF64, either byte order) held in memory.
 * The bytes are not copied: keep them unchanged while the result is in use.
 *
 * @param bytes The whole file.
 * @returns The parsed file.
 * @throws {ElfError} For any malformation, with a stable code and the offset.
 *
 * @example
 * ```ts
 * import { parseElf } from "@lpkit/elf";
 * import { readFileSync } from "node:fs";
 * import assert from "node:assert/strict";
 *
 * const elf = parseElf(readFileSync("examples/bin/hello.livepatch"));
 * assert.equal(elf.header.class, 64);
 * assert.ok(elf.sectionByName(".livepatch.funcs"));
 * ```
 */
export function parseElf(bytes: Uint8Array): ElfFile {
  return new ElfFile(bytes);
}

interface Section0 {
  size: bigint;
  link: number;
  info: number;
}

function readHeader(bytes: Uint8Array): {
  reader: ByteReader;
  header: ElfHeader;
} {
  const probe = new ByteReader(bytes, true, false);
  probe.need(0, 16, "the ELF identification");
  if (bytes[0] !== 0x7f || bytes[1] !== 0x45 || bytes[2] !== 0x4c || bytes[3] !== 0x46) {
    throw new ElfError("BAD_MAGIC", 0, "Not an ELF file: the magic number is not \\x7fELF");
  }
  const klass = bytes[4];
  if (klass !== ELFCLASS.ELF32 && klass !== ELFCLASS.ELF64) {
    throw new ElfError("BAD_CLASS", 4, `Unknown ELF class ${klass}`);
  }
  const data = bytes[5];
  if (data !== ELFDATA.LSB && data !== ELFDATA.MSB) {
    throw new ElfError("BAD_ENCODING", 5, `Unknown ELF data encoding ${data}`);
  }
  if (bytes[6] !== 1) {
    throw new ElfError("BAD_VERSION", 6, `Unknown ELF identification version ${bytes[6]}`);
  }
  const bits = klass === ELFCLASS.ELF64 ? 64 : 32;
  const r = new ByteReader(bytes, data === ELFDATA.LSB, bits === 64);
  r.need(0, EHDR_SIZE[bits], "the ELF header");

  const version = r.u32(20);
  if (version !== 1) throw new ElfError("BAD_VERSION", 20, `Unknown ELF version ${version}`);
  const w = bits === 64 ? 8 : 4; // width of address-sized fields
  const entry = r.word(24);
  const phoff = toSafeNumber(r.word(24 + w), 24 + w, "e_phoff");
  const shoff = toSafeNumber(r.word(24 + 2 * w), 24 + 2 * w, "e_shoff");
  const at = 24 + 3 * w; // e_flags
  const flags = r.u32(at);
  const ehsize = r.u16(at + 4);
  const phentsize = r.u16(at + 6);
  let phnum = r.u16(at + 8);
  const shentsize = r.u16(at + 10);
  let shnum = r.u16(at + 12);
  let shstrndx = r.u16(at + 14);

  if (ehsize !== EHDR_SIZE[bits]) {
    throw new ElfError("BAD_ENTRY_SIZE", at + 4, `e_ehsize is ${ehsize}, not ${EHDR_SIZE[bits]}`);
  }

  // Extended numbering (gABI): the real counts live in section 0.
  let section0: Section0 | undefined;
  if (shoff !== 0) {
    checkEntrySize(shentsize, SHDR_SIZE[bits], at + 10, "e_shentsize");
    r.need(shoff, SHDR_SIZE[bits], "section header 0");
    section0 = {
      size: bits === 64 ? r.u64(shoff + 32) : BigInt(r.u32(shoff + 20)),
      link: r.u32(shoff + (bits === 64 ? 40 : 24)),
      info: r.u32(shoff + (bits === 64 ? 44 : 28)),
    };
    if (shnum === 0) shnum = toSafeNumber(section0.size, shoff + 32, "extended section count");
    if (shstrndx === SHN.XINDEX) shstrndx = section0.link;
    if (phnum === PN_XNUM) phnum = section0.info;
  } else if (shnum !== 0) {
    throw new ElfError("BAD_TABLE", at + 12, `e_shnum is ${shnum} but there is no section table`);
  }

  if (shnum > 0) {
    if (shoff + shnum * SHDR_SIZE[bits] > bytes.length || shoff < ehsize) {
      throw new ElfError(
        "BAD_TABLE",
        24 + 2 * w,
        `The section header table (${shnum} entries at 0x${
          shoff.toString(16)
        }) does not lie inside the file`,
      );
    }
    if (shstrndx !== SHN.UNDEF && shstrndx >= shnum) {
      throw new ElfError("BAD_SHSTRNDX", at + 14, `e_shstrndx ${shstrndx} is not a section`);
    }
  }
  if (phnum > 0) {
    checkEntrySize(phentsize, PHDR_SIZE[bits], at + 6, "e_phentsize");
    if (phoff < ehsize || phoff + phnum * PHDR_SIZE[bits] > bytes.length) {
      throw new ElfError(
        "BAD_TABLE",
        24 + w,
        `The program header table (${phnum} entries at 0x${
          phoff.toString(16)
        }) does not lie inside the file`,
      );
    }
  }

  const header: ElfHeader = {
    class: bits,
    endian: r.little ? "little" : "big",
    osabi: bytes[7],
    abiVersion: bytes[8],
    type: r.u16(16),
    machine: r.u16(18),
    version,
    entry,
    phoff,
    shoff,
    flags,
    ehsize,
    phentsize,
    phnum,
    shentsize,
    shnum,
    shstrndx,
  };
  return { reader: r, header };
}

function checkEntrySize(actual: number, expected: number, offset: number, what: string): void {
  if (actual !== expected) {
    throw new ElfError("BAD_ENTRY_SIZE", offset, `${what} is ${actual}, not ${expected}`);
  }
}

function readSections(r: ByteReader, h: ElfHeader): ElfSection[] {
  const is64 = h.class === 64;
  const size = SHDR_SIZE[h.class];
  const raw: Omit<ElfSection, "name">[] = [];
  for (let i = 0; i < h.shnum; i++) {
    const at = h.shoff + i * size;
    const s = is64
      ? {
        index: i,
        nameOffset: r.u32(at),
        type: r.u32(at + 4),
        flags: r.u64(at + 8),
        address: r.u64(at + 16),
        offset: toSafeNumber(r.u64(at + 24), at + 24, "sh_offset"),
        size: toSafeNumber(r.u64(at + 32), at + 32, "sh_size"),
        link: r.u32(at + 40),
        info: r.u32(at + 44),
        addralign: r.u64(at + 48),
        entsize: toSafeNumber(r.u64(at + 56), at + 56, "sh_entsize"),
        headerOffset: at,
      }
      : {
        index: i,
        nameOffset: r.u32(at),
        type: r.u32(at + 4),
        flags: BigInt(r.u32(at + 8)),
        address: BigInt(r.u32(at + 12)),
        offset: r.u32(at + 16),
        size: r.u32(at + 20),
        link: r.u32(at + 24),
        info: r.u32(at + 28),
        addralign: BigInt(r.u32(at + 32)),
        entsize: r.u32(at + 36),
        headerOffset: at,
      };
    if (i === 0) {
      checkNullSection(s);
    } else {
      checkSectionBounds(r, s);
    }
    raw.push(s);
  }

  // Section names come from the section name table, which must be a sane string table.
  const shstr = h.shstrndx !== SHN.UNDEF ? raw[h.shstrndx] : undefined;
  if (shstr !== undefined && shstr.type !== SHT.STRTAB) {
    throw new ElfError(
      "BAD_SHSTRNDX",
      shstr.headerOffset,
      `e_shstrndx names section ${shstr.index}, which is not a string table`,
    );
  }
  return raw.map((s) => {
    if (shstr === undefined || s.index === 0 && s.nameOffset === 0) return { ...s, name: "" };
    const name = s.nameOffset < shstr.size
      ? readCString(r.bytes, shstr.offset + s.nameOffset, shstr.offset + shstr.size)
      : undefined;
    if (name === undefined) {
      throw new ElfError(
        "BAD_STRING",
        s.headerOffset,
        `Section ${s.index}'s name offset ${s.nameOffset} is outside the section name table`,
      );
    }
    return { ...s, name };
  });
}

function checkNullSection(s: Omit<ElfSection, "name">): void {
  // Only sh_size, sh_link and sh_info may be set (for extended numbering).
  if (
    s.type !== SHT.NULL || s.nameOffset !== 0 || s.flags !== 0n || s.address !== 0n ||
    s.offset !== 0 || s.addralign !== 0n || s.entsize !== 0
  ) {
    throw new ElfError("BAD_NULL_SECTION", s.headerOffset, "Section 0 is not a null section");
  }
}

function checkSectionBounds(r: ByteReader, s: Omit<ElfSection, "name">): void {
  if (!isValidAlignment(s.addralign)) {
    throw new ElfError(
      "BAD_ALIGNMENT",
      s.headerOffset,
      `Section ${s.index}'s alignment 0x${s.addralign.toString(16)} is not a power of two`,
    );
  }
  if (s.type === SHT.NOBITS || s.type === SHT.NULL) return;
  if (s.offset > r.length || s.size > r.length - s.offset) {
    throw new ElfError(
      "BAD_BOUNDS",
      s.headerOffset,
      `Section ${s.index} (0x${s.size.toString(16)} bytes at 0x${
        s.offset.toString(16)
      }) runs past the end of the file`,
    );
  }
}

function readSegments(r: ByteReader, h: ElfHeader): ElfSegment[] {
  const is64 = h.class === 64;
  const out: ElfSegment[] = [];
  for (let i = 0; i < h.phnum; i++) {
    const at = h.phoff + i * PHDR_SIZE[h.class];
    const p: ElfSegment = is64
      ? {
        index: i,
        type: r.u32(at),
        flags: r.u32(at + 4),
        offset: toSafeNumber(r.u64(at + 8), at + 8, "p_offset"),
        vaddr: r.u64(at + 16),
        paddr: r.u64(at + 24),
        filesz: toSafeNumber(r.u64(at + 32), at + 32, "p_filesz"),
        memsz: r.u64(at + 40),
        align: r.u64(at + 48),
        headerOffset: at,
      }
      : {
        index: i,
        type: r.u32(at),
        offset: r.u32(at + 4),
        vaddr: BigInt(r.u32(at + 8)),
        paddr: BigInt(r.u32(at + 12)),
        filesz: r.u32(at + 16),
        memsz: BigInt(r.u32(at + 20)),
        flags: r.u32(at + 24),
        align: BigInt(r.u32(at + 28)),
        headerOffset: at,
      };
    if (p.offset > r.length || p.filesz > r.length - p.offset) {
      throw new ElfError(
        "BAD_BOUNDS",
        at,
        `Segment ${i} (0x${p.filesz.toString(16)} bytes at 0x${
          p.offset.toString(16)
        }) runs past the end of the file`,
      );
    }
    if (BigInt(p.filesz) > p.memsz && p.type === PT.LOAD) {
      throw new ElfError("BAD_BOUNDS", at, `Segment ${i} has p_filesz larger than p_memsz`);
    }
    if (!isValidAlignment(p.align)) {
      throw new ElfError("BAD_ALIGNMENT", at, `Segment ${i}'s alignment is not a power of two`);
    }
    out.push(p);
  }
  return out;
}
