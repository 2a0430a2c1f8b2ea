/**
 * A small ELF writer, for crafting files: test inputs, payloads that break
 * exactly one rule, round-trip checks of the reader. It writes what it is
 * told (including nonsense) and checks nothing.
 *
 * @module
 */

/** A section to write. Sections are numbered from 1 in the order given. */
export interface SectionSpec {
  /** Name, placed in `.shstrtab` (which the writer appends). */
  name: string;
  /** `sh_type`. */
  type: number;
  /** `sh_flags`. */
  flags?: bigint;
  /** `sh_addr`. */
  address?: bigint;
  /** Contents; for `SHT_NOBITS` leave it out and give `size`. */
  data?: Uint8Array;
  /** `sh_size` when it should differ from `data.length` (NOBITS, or deliberately wrong). */
  size?: number;
  /** `sh_link`: a section index, or the name of a section in this spec. */
  link?: number | string;
  /** `sh_info`: a number, or the name of a section in this spec. */
  info?: number | string;
  /** `sh_addralign` (default 1). */
  addralign?: bigint;
  /** `sh_entsize`. */
  entsize?: number;
}

/** A program header to write. */
export interface SegmentSpec {
  /** `p_type`. */
  type: number;
  /** `p_flags`. */
  flags?: number;
  /** Name of the section whose file range the segment covers. */
  section?: string;
  /** `p_vaddr` (default: the section's address). */
  vaddr?: bigint;
  /** `p_memsz` (default: the section's size). */
  memsz?: bigint;
  /** `p_align` (default 0x1000). */
  align?: bigint;
}

/** A symbol to write into `.symtab` (index 0, the null symbol, is implicit). */
export interface SymbolSpec {
  /** Name, placed in `.strtab`. */
  name: string;
  /** `st_value`. */
  value?: bigint;
  /** `st_size`. */
  size?: bigint;
  /** `ELF_ST_TYPE`. */
  type?: number;
  /** `ELF_ST_BIND`. */
  bind?: number;
  /** `ELF_ST_VISIBILITY`. */
  visibility?: number;
  /** `st_shndx`: a section index or reserved value, or a section name of this spec. */
  section?: number | string;
}

/** A whole file to write. */
export interface ElfSpec {
  /** 32 or 64 (default 64). */
  class?: 32 | 64;
  /** Byte order (default little). */
  endian?: "little" | "big";
  /** `e_type` (default 1, ET_REL). */
  type?: number;
  /** `e_machine` (default 62, EM_X86_64). */
  machine?: number;
  /** `e_entry`. */
  entry?: bigint;
  /** `EI_OSABI`. */
  osabi?: number;
  /** `e_flags`. */
  flags?: number;
  /** Sections, after the implicit null section. */
  sections: SectionSpec[];
  /** Symbols: when given, `.symtab` and `.strtab` are appended after `sections`. */
  symbols?: SymbolSpec[];
  /** Program headers, placed right after the file header. */
  segments?: SegmentSpec[];
}

/** One relocation to encode with {@linkcode encodeRelocations}. */
export interface RelocationSpec {
  /** `r_offset`. */
  offset: bigint;
  /** Relocation type. */
  type: number;
  /** Symbol index. */
  symbol: number;
  /** Addend (RELA only). */
  addend?: bigint;
}

class Out {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  constructor(size: number, readonly little: boolean, readonly is64: boolean) {
    this.bytes = new Uint8Array(size);
    this.view = new DataView(this.bytes.buffer);
  }
  u8(at: number, v: number) {
    this.view.setUint8(at, v);
  }
  u16(at: number, v: number) {
    this.view.setUint16(at, v, this.little);
  }
  u32(at: number, v: number) {
    this.view.setUint32(at, v >>> 0, this.little);
  }
  u64(at: number, v: bigint) {
    this.view.setBigUint64(at, BigInt.asUintN(64, v), this.little);
  }
  word(at: number, v: bigint) {
    if (this.is64) this.u64(at, v);
    else this.u32(at, Number(BigInt.asUintN(32, v)));
  }
}

const encoder = new TextEncoder();

function stringTable(names: string[]): { data: Uint8Array; offsets: number[] } {
  const parts: number[] = [0];
  const offsets: number[] = [];
  for (const name of names) {
    if (name === "") {
      offsets.push(0);
      continue;
    }
    offsets.push(parts.length);
    parts.push(...encoder.encode(name), 0);
  }
  return { data: new Uint8Array(parts), offsets };
}

function align(n: number, a: number): number {
  return a <= 1 ? n : Math.ceil(n / a) * a;
}

/**
 * Writes an ELF file from `spec`: header, program headers, section contents
 * (each at its alignment), `.symtab`/`.strtab` when symbols are given,
 * `.shstrtab`, then the section header table.
 *
 * @example A relocatable object with one function symbol
 * ```ts
 * import { buildElf, parseElf, SHF, SHT, STB, STT } from "@lpkit/elf";
 * import assert from "node:assert/strict";
 *
 * const bytes = buildElf({
 *   sections: [{ name: ".text", type: SHT.PROGBITS, flags: SHF.ALLOC | SHF.EXECINSTR,
 *                data: new Uint8Array([0xc3]) }],
 *   symbols: [{ name: "f", section: ".text", type: STT.FUNC, bind: STB.GLOBAL, size: 1n }],
 * });
 * assert.equal(parseElf(bytes).symbolIndex().byName("f")?.size, 1n);
 * ```
 */
export function buildElf(spec: ElfSpec): Uint8Array {
  const is64 = (spec.class ?? 64) === 64;
  const little = (spec.endian ?? "little") === "little";
  const sections: SectionSpec[] = [...spec.sections];

  const indexOf = (ref: number | string | undefined): number => {
    if (typeof ref !== "string") return ref ?? 0;
    const i = sections.findIndex((s) => s.name === ref);
    if (i < 0) throw new TypeError(`buildElf: no section named "${ref}"`);
    return i + 1;
  };

  if (spec.symbols !== undefined) {
    const symbols = spec.symbols;
    const strtab = stringTable(symbols.map((s) => s.name));
    const entry = is64 ? 24 : 16;
    sections.push({ name: ".symtab", type: 2, link: ".strtab", entsize: entry, addralign: 8n });
    sections.push({ name: ".strtab", type: 3, data: strtab.data });
    const locals = symbols.filter((s) => (s.bind ?? 0) === 0).length;
    const symtab = new Out((symbols.length + 1) * entry, little, is64);
    symbols.forEach((s, i) => {
      const at = (i + 1) * entry;
      const info = ((s.bind ?? 0) << 4) | (s.type ?? 0);
      const shndx = indexOf(s.section);
      symtab.u32(at, strtab.offsets[i]);
      if (is64) {
        symtab.u8(at + 4, info);
        symtab.u8(at + 5, s.visibility ?? 0);
        symtab.u16(at + 6, shndx);
        symtab.u64(at + 8, s.value ?? 0n);
        symtab.u64(at + 16, s.size ?? 0n);
      } else {
        symtab.u32(at + 4, Number(s.value ?? 0n));
        symtab.u32(at + 8, Number(s.size ?? 0n));
        symtab.u8(at + 12, info);
        symtab.u8(at + 13, s.visibility ?? 0);
        symtab.u16(at + 14, shndx);
      }
    });
    const symtabSpec = sections[sections.length - 2];
    symtabSpec.data = symtab.bytes;
    symtabSpec.info = locals + 1;
  }
  const shstrtab = stringTable([...sections.map((s) => s.name), ".shstrtab"]);
  sections.push({ name: ".shstrtab", type: 3, data: shstrtab.data });

  const ehsize = is64 ? 64 : 52;
  const phentsize = is64 ? 56 : 32;
  const shentsize = is64 ? 64 : 40;
  const segments = spec.segments ?? [];
  let at = ehsize + segments.length * phentsize;
  const offsets = sections.map((s) => {
    at = align(at, Number(s.addralign ?? 1n));
    const offset = at;
    if (s.type !== 8) at += s.data?.length ?? 0;
    return offset;
  });
  const shoff = align(at, 8);
  const out = new Out(shoff + (sections.length + 1) * shentsize, little, is64);
  const b = out.bytes;

  b.set([0x7f, 0x45, 0x4c, 0x46, is64 ? 2 : 1, little ? 1 : 2, 1, spec.osabi ?? 0]);
  out.u16(16, spec.type ?? 1);
  out.u16(18, spec.machine ?? 62);
  out.u32(20, 1);
  out.word(24, spec.entry ?? 0n);
  const w = is64 ? 8 : 4;
  out.word(24 + w, BigInt(segments.length > 0 ? ehsize : 0));
  out.word(24 + 2 * w, BigInt(shoff));
  const f = 24 + 3 * w;
  out.u32(f, spec.flags ?? 0);
  out.u16(f + 4, ehsize);
  out.u16(f + 6, segments.length > 0 ? phentsize : 0);
  out.u16(f + 8, segments.length);
  out.u16(f + 10, shentsize);
  out.u16(f + 12, sections.length + 1);
  out.u16(f + 14, sections.length);

  segments.forEach((p, i) => {
    const ph = ehsize + i * phentsize;
    const si = p.section === undefined ? -1 : indexOf(p.section) - 1;
    const s = sections[si];
    const offset = BigInt(si >= 0 ? offsets[si] : 0);
    const filesz = BigInt(s !== undefined && s.type !== 8 ? s.data?.length ?? 0 : 0);
    const vaddr = p.vaddr ?? s?.address ?? 0n;
    const memsz = p.memsz ?? BigInt(s?.size ?? s?.data?.length ?? 0);
    const palign = p.align ?? 0x1000n;
    out.u32(ph, p.type);
    if (is64) {
      out.u32(ph + 4, p.flags ?? 0);
      out.u64(ph + 8, offset);
      out.u64(ph + 16, vaddr);
      out.u64(ph + 24, vaddr);
      out.u64(ph + 32, filesz);
      out.u64(ph + 40, memsz);
      out.u64(ph + 48, palign);
    } else {
      out.u32(ph + 4, Number(offset));
      out.u32(ph + 8, Number(vaddr));
      out.u32(ph + 12, Number(vaddr));
      out.u32(ph + 16, Number(filesz));
      out.u32(ph + 20, Number(memsz));
      out.u32(ph + 24, p.flags ?? 0);
      out.u32(ph + 28, Number(palign));
    }
  });

  sections.forEach((s, i) => {
    if (s.data !== undefined && s.type !== 8) b.set(s.data, offsets[i]);
    const sh = shoff + (i + 1) * shentsize;
    const size = BigInt(s.size ?? s.data?.length ?? 0);
    out.u32(sh, shstrtab.offsets[i]);
    out.u32(sh + 4, s.type);
    out.word(sh + 8, s.flags ?? 0n);
    out.word(sh + 8 + w, s.address ?? 0n);
    out.word(sh + 8 + 2 * w, BigInt(offsets[i]));
    out.word(sh + 8 + 3 * w, size);
    out.u32(sh + 8 + 4 * w, indexOf(s.link));
    out.u32(sh + 12 + 4 * w, indexOf(s.info));
    out.word(sh + 16 + 4 * w, s.addralign ?? 1n);
    out.word(sh + 16 + 5 * w, BigInt(s.entsize ?? 0));
  });
  return b;
}

/**
 * Encodes relocation entries as a REL or RELA section's contents.
 *
 * @example
 * ```ts
 * import { encodeRelocations } from "@lpkit/elf";
 * import assert from "node:assert/strict";
 * const rela = encodeRelocations([{ offset: 16n, type: 1, symbol: 3 }], { rela: true });
 * assert.equal(rela.length, 24);
 * ```
 */
export function encodeRelocations(
  entries: readonly RelocationSpec[],
  options: { rela: boolean; class?: 32 | 64; endian?: "little" | "big" },
): Uint8Array {
  const is64 = (options.class ?? 64) === 64;
  const size = is64 ? (options.rela ? 24 : 16) : (options.rela ? 12 : 8);
  const out = new Out(entries.length * size, (options.endian ?? "little") === "little", is64);
  entries.forEach((e, i) => {
    const at = i * size;
    if (is64) {
      out.u64(at, e.offset);
      out.u64(at + 8, (BigInt(e.symbol) << 32n) | BigInt(e.type));
      if (options.rela) out.u64(at + 16, e.addend ?? 0n);
    } else {
      out.u32(at, Number(e.offset));
      out.u32(at + 4, (e.symbol << 8) | (e.type & 0xff));
      if (options.rela) out.u32(at + 8, Number(BigInt.asIntN(32, e.addend ?? 0n)));
    }
  });
  return out.bytes;
}

/**
 * Encodes one ELF note (header, NUL-terminated name, descriptor, each padded
 * to 4 bytes) — e.g. a GNU build-id note as live-patch dependency sections
 * carry it.
 *
 * @example
 * ```ts
 * import { encodeNote } from "@lpkit/elf";
 * import assert from "node:assert/strict";
 * const note = encodeNote("GNU", 3, new Uint8Array(20));
 * assert.equal(note.length, 12 + 4 + 20);
 * ```
 */
export function encodeNote(
  name: string,
  type: number,
  desc: Uint8Array,
  endian: "little" | "big" = "little",
): Uint8Array {
  const nameBytes = encoder.encode(name);
  const namesz = name === "" ? 0 : nameBytes.length + 1;
  const out = new Out(12 + align(namesz, 4) + align(desc.length, 4), endian === "little", true);
  out.u32(0, namesz);
  out.u32(4, desc.length);
  out.u32(8, type);
  out.bytes.set(nameBytes, 12);
  out.bytes.set(desc, 12 + align(namesz, 4));
  return out.bytes;
}
