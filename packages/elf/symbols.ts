/**
 * Symbol tables (`SHT_SYMTAB`, `SHT_DYNSYM`).
 *
 * @module
 */
import type { ByteReader } from "./_bytes.ts";
import { SHN, SHT } from "./constants.ts";
import type { ElfSection } from "./elf_file.ts";
import { ElfError } from "./errors.ts";

/** One symbol table entry, decoded. */
export interface ElfSymbol {
  /** Index in its symbol table (relocations refer to symbols by it). */
  readonly index: number;
  /** Name from the linked string table. */
  readonly name: string;
  /** `st_value`: an address in executables, a section offset in relocatable files. */
  readonly value: bigint;
  /** `st_size`. */
  readonly size: bigint;
  /** `ELF_ST_TYPE(st_info)`: see {@linkcode STT}. */
  readonly type: number;
  /** `ELF_ST_BIND(st_info)`: see {@linkcode STB}. */
  readonly bind: number;
  /** `ELF_ST_VISIBILITY(st_other)`: see {@linkcode STV}. */
  readonly visibility: number;
  /**
   * `st_shndx`, with `SHN_XINDEX` resolved through `SHT_SYMTAB_SHNDX`:
   * a section index, or a reserved value such as {@linkcode SHN}.ABS.
   */
  readonly sectionIndex: number;
}

const SYM_SIZE = { 32: 16, 64: 24 } as const;

const latin1 = new TextDecoder("latin1");
const utf8 = new TextDecoder("utf-8");

function decodeName(strings: string, bytes: Uint8Array, start: number, end: number): string {
  const name = strings.slice(start, end);
  // deno-lint-ignore no-control-regex
  return /[^\x00-\x7f]/.test(name) ? utf8.decode(bytes.subarray(start, end)) : name;
}

/** Checks that `table` is a table of `entrySize`-byte entries; returns the entry count. */
export function checkTable(table: ElfSection, entrySize: number, what: string): number {
  if (table.entsize !== entrySize) {
    throw new ElfError(
      "BAD_ENTSIZE",
      table.headerOffset,
      `${what} ${table.name} has sh_entsize ${table.entsize}, not ${entrySize}`,
    );
  }
  if (table.size % entrySize !== 0) {
    throw new ElfError(
      "BAD_ENTSIZE",
      table.headerOffset,
      `${what} ${table.name}'s size ${table.size} is not a multiple of ${entrySize}`,
    );
  }
  return table.size / entrySize;
}

/** The section `link` of `table` names, which must be of type `type`. */
export function linkedSection(
  sections: readonly ElfSection[],
  table: ElfSection,
  type: number,
  what: string,
): ElfSection {
  const linked = sections[table.link];
  if (table.link === 0 || linked === undefined || linked.type !== type) {
    throw new ElfError(
      "BAD_LINK",
      table.headerOffset,
      `${table.name}'s sh_link ${table.link} does not name a ${what}`,
    );
  }
  return linked;
}

/** Reads every entry of a symbol table, checking names and section indices. */
export function readSymbols(
  r: ByteReader,
  sections: readonly ElfSection[],
  table: ElfSection,
): ElfSymbol[] {
  if (table.type !== SHT.SYMTAB && table.type !== SHT.DYNSYM) {
    throw new ElfError(
      "BAD_SECTION_TYPE",
      table.headerOffset,
      `Section ${table.index} (${table.name}) is not a symbol table`,
    );
  }
  const is64 = r.is64;
  const entrySize = SYM_SIZE[is64 ? 64 : 32];
  const count = checkTable(table, entrySize, "Symbol table");
  const strtab = linkedSection(sections, table, SHT.STRTAB, "string table");
  // One decode of the whole table, then a slice per name: latin1 maps bytes
  // to chars one-to-one, so offsets carry over; non-ASCII names are re-decoded.
  const strBytes = r.bytes.subarray(strtab.offset, strtab.offset + strtab.size);
  const strings = latin1.decode(strBytes);
  const shndxTable = sections.find((s) => s.type === SHT.SYMTAB_SHNDX && s.link === table.index);

  const out: ElfSymbol[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const at = table.offset + i * entrySize;
    const nameOffset = r.u32(at);
    let info: number, other: number, shndx: number, value: bigint, size: bigint;
    if (is64) {
      info = r.u8(at + 4);
      other = r.u8(at + 5);
      shndx = r.u16(at + 6);
      value = r.u64(at + 8);
      size = r.u64(at + 16);
    } else {
      value = BigInt(r.u32(at + 4));
      size = BigInt(r.u32(at + 8));
      info = r.u8(at + 12);
      other = r.u8(at + 13);
      shndx = r.u16(at + 14);
    }
    const end = nameOffset === 0 ? 0 : strings.indexOf("\0", nameOffset);
    const name = nameOffset === 0
      ? ""
      : end < 0 || nameOffset >= strtab.size
      ? undefined
      : decodeName(strings, strBytes, nameOffset, end);
    if (name === undefined) {
      throw new ElfError(
        "BAD_STRING",
        at,
        `Symbol ${i}'s name offset ${nameOffset} is outside ${strtab.name}`,
      );
    }
    let missing = shndx !== SHN.UNDEF && shndx < SHN.LORESERVE && shndx >= sections.length;
    if (shndx === SHN.XINDEX) {
      if (shndxTable === undefined || shndxTable.size < (i + 1) * 4) {
        throw new ElfError("BAD_SYMBOL", at, `Symbol ${i} uses SHN_XINDEX without SYMTAB_SHNDX`);
      }
      shndx = r.u32(shndxTable.offset + i * 4);
      missing = shndx >= sections.length;
    }
    if (missing) {
      throw new ElfError(
        "BAD_SYMBOL",
        at,
        `Symbol ${i} (${name}) is in section ${shndx}, which does not exist`,
      );
    }
    out[i] = {
      index: i,
      name,
      value,
      size,
      type: info & 0xf,
      bind: info >> 4,
      visibility: other & 0x3,
      sectionIndex: shndx,
    };
  }
  return out;
}
