/**
 * Relocation tables (`SHT_REL`, `SHT_RELA`).
 *
 * @module
 */
import type { ByteReader } from "./_bytes.ts";
import { SHT } from "./constants.ts";
import type { ElfSection } from "./elf_file.ts";
import { ElfError } from "./errors.ts";
import { checkTable } from "./symbols.ts";

/** One relocation entry, decoded. */
export interface ElfRelocation {
  /** Index of the entry in its section. */
  readonly index: number;
  /** `r_offset`: where to patch, relative to the target section in relocatable files. */
  readonly offset: bigint;
  /** `ELF*_R_TYPE(r_info)`: machine specific, e.g. {@linkcode R_X86_64}. */
  readonly type: number;
  /** `ELF*_R_SYM(r_info)`: index into the linked symbol table. */
  readonly symbolIndex: number;
  /** `r_addend` (0 for `SHT_REL`, whose addend is in the patched bytes). */
  readonly addend: bigint;
  /** File offset of the entry, for error reports. */
  readonly fileOffset: number;
}

const ENTRY_SIZE = {
  rel: { 32: 8, 64: 16 },
  rela: { 32: 12, 64: 24 },
} as const;

/** Reads a REL or RELA section, checking its layout and symbol indices. */
export function readRelocations(
  r: ByteReader,
  sections: readonly ElfSection[],
  section: ElfSection,
): ElfRelocation[] {
  const rela = section.type === SHT.RELA;
  if (!rela && section.type !== SHT.REL) {
    throw new ElfError(
      "BAD_SECTION_TYPE",
      section.headerOffset,
      `Section ${section.index} (${section.name}) is not a relocation table`,
    );
  }
  const bits = r.is64 ? 64 : 32;
  const entrySize = ENTRY_SIZE[rela ? "rela" : "rel"][bits];
  const count = checkTable(section, entrySize, "Relocation table");

  // sh_link 0 is allowed (no symbols); otherwise it must name a symbol table.
  let symbolCount = 0;
  if (section.link !== 0) {
    const symtab = sections[section.link];
    if (symtab === undefined || (symtab.type !== SHT.SYMTAB && symtab.type !== SHT.DYNSYM)) {
      throw new ElfError(
        "BAD_LINK",
        section.headerOffset,
        `${section.name}'s sh_link ${section.link} does not name a symbol table`,
      );
    }
    symbolCount = Math.floor(symtab.size / (bits === 64 ? 24 : 16));
  }

  const out: ElfRelocation[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const at = section.offset + i * entrySize;
    let offset: bigint, type: number, symbolIndex: number, addend = 0n;
    if (bits === 64) {
      offset = r.u64(at);
      type = r.u32(at + (r.little ? 8 : 12));
      symbolIndex = r.u32(at + (r.little ? 12 : 8));
      if (rela) addend = r.i64(at + 16);
    } else {
      offset = BigInt(r.u32(at));
      const info = r.u32(at + 4);
      type = info & 0xff;
      symbolIndex = info >>> 8;
      if (rela) addend = BigInt(r.i32(at + 8));
    }
    if (symbolIndex !== 0 && symbolIndex >= symbolCount) {
      throw new ElfError(
        "BAD_SYMBOL",
        at,
        `Relocation ${i} of ${section.name} refers to symbol ${symbolIndex}, which does not exist`,
      );
    }
    out[i] = { index: i, offset, type, symbolIndex, addend, fileOffset: at };
  }
  return out;
}
