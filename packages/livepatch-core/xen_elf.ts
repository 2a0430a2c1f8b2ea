/**
 * Xen 4.17's view of a payload ELF file (`xen/common/livepatch_elf.c`):
 * the header, section, section-name and symbol checks of reference §2.2
 * (rows H1–H10, S1–S9, N1–N2, Y1), in Xen's order and with its errnos.
 *
 * This is deliberately not the strict reader of `@lpkit/elf`: Xen checks
 * less in some places (it never looks at section 0 or `e_ehsize`) and
 * differently in others (it reads every header as ELF64, steps through the
 * section table by `e_shentsize`), and the simulated host must accept and
 * refuse exactly what Xen does.
 *
 * @module
 */
import { SHF, SHT } from "@lpkit/elf";
import { LivepatchError } from "./errno.ts";

/** `LIVEPATCH_MAX_SIZE`: largest payload and largest `.bss` (2 MiB). */
export const LIVEPATCH_MAX_SIZE = 2 * 1024 * 1024;
const EHDR = 64;
const SHDR = 64;
const SYM = 24;
const ELFOSABI_FREEBSD = 9;
const EM_X86_64 = 62;

/** A section as Xen tracks it (`struct livepatch_elf_sec`). */
export interface XenSection {
  readonly index: number;
  /** Name from the section name table (set after N1–N2). */
  name: string;
  readonly type: number;
  readonly flags: bigint;
  readonly addr: bigint;
  readonly offset: bigint;
  readonly size: bigint;
  readonly link: number;
  readonly info: number;
  readonly addralign: bigint;
  readonly entsize: bigint;
  /** File offset of the section header. */
  readonly headerOffset: number;
  /** The section's bytes in the file (empty for `SHT_NOBITS`). */
  readonly data: Uint8Array;
  /** Where `move_payload` placed it; undefined for ignored (non-ALLOC) sections. */
  loadAddress: bigint | undefined;
}

/** A symbol as Xen tracks it (`struct livepatch_elf_sym`). */
export interface XenSymbol {
  readonly index: number;
  readonly name: string;
  /** `st_value`, turned into an address by symbol resolution. */
  value: bigint;
  readonly size: bigint;
  readonly type: number;
  readonly bind: number;
  readonly shndx: number;
  /** Set by resolution for symbols of non-ALLOC sections (reference R6). */
  ignored: boolean;
  /** Set when resolution failed (collecting mode): relocations against it are not checked further. */
  unresolved?: boolean;
  /** File offset of the `Elf64_Sym`. */
  readonly entryOffset: number;
}

/** A payload file after Xen's ELF checks (`struct livepatch_elf`). */
export interface XenElf {
  readonly bytes: Uint8Array;
  /** Sections 0..e_shnum-1; index 0 is never inspected. */
  readonly sections: XenSection[];
  readonly symtab: XenSection;
  readonly strtab: XenSection;
  /** Symbols 0..nsym-1 (index 0 is the null symbol). */
  readonly symbols: XenSymbol[];
}

const fail = (
  errno: "EINVAL" | "EOPNOTSUPP",
  code: string,
  detail: string,
  place: { offset?: number; section?: string; symbol?: string } = {},
): never => {
  throw new LivepatchError(errno, code, detail, place);
};

const latin1 = new TextDecoder("latin1");

function cString(bytes: Uint8Array, start: number): string {
  let end = start;
  while (bytes[end] !== 0) end++;
  return latin1.decode(bytes.subarray(start, end));
}

/**
 * Runs `livepatch_elf_load`: header check, section resolution, section
 * names and symbols. Throws {@linkcode LivepatchError} with the check id
 * (`H1`…`Y1`) and Xen's errno.
 *
 * @example
 * ```ts
 * import { loadXenElf, LivepatchError } from "@lpkit/livepatch-core";
 * import assert from "node:assert/strict";
 * assert.throws(() => loadXenElf(new Uint8Array(10)), (e) => e instanceof LivepatchError && e.code === "H1");
 * ```
 */
export function loadXenElf(bytes: Uint8Array): XenElf {
  const len = bytes.length;
  // H1: the header must fit.
  if (len < EHDR) fail("EINVAL", "H1", "Section header is bigger than payload!", { offset: 0 });
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // H2
  if (bytes[0] !== 0x7f || bytes[1] !== 0x45 || bytes[2] !== 0x4c || bytes[3] !== 0x46) {
    fail("EINVAL", "H2", "Not an ELF payload!", { offset: 0 });
  }
  // H3: Xen reads the header as Elf64_Ehdr whatever EI_CLASS says.
  const eType = v.getUint16(16, true);
  const eVersion = v.getUint32(20, true);
  const osabi = bytes[7];
  const ePhnum = v.getUint16(56, true);
  if (
    eVersion !== 1 || bytes[6] !== 1 || bytes[8] !== 0 ||
    (osabi !== 0 && osabi !== ELFOSABI_FREEBSD) || eType !== 1 || ePhnum !== 0
  ) {
    fail("EOPNOTSUPP", "H3", "Invalid ELF payload!", { offset: 6 });
  }
  // H4: arch_livepatch_verify_elf.
  if (v.getUint16(18, true) !== EM_X86_64 || bytes[4] !== 2 || bytes[5] !== 1) {
    fail("EOPNOTSUPP", "H4", "Unsupported ELF Machine type!", { offset: 4 });
  }
  const shoff = v.getBigUint64(40, true);
  const shentsize = v.getUint16(58, true);
  const shnum = v.getUint16(60, true);
  const shstrndx = v.getUint16(62, true);
  if (shstrndx === 0) fail("EINVAL", "H5", "Section name idx is undefined!?", { offset: 62 });
  if (shnum >= 1024) fail("EOPNOTSUPP", "H6", `Too many (${shnum}) sections!`, { offset: 60 });
  if (shstrndx >= shnum) {
    fail("EINVAL", "H7", `Section name idx (${shstrndx}) is past end of sections (${shnum})!`, {
      offset: 62,
    });
  }
  if (shoff >= BigInt(len)) fail("EINVAL", "H8", "Bogus e_shoff!", { offset: 40 });
  if (shentsize < SHDR) {
    fail("EINVAL", "H9", `Section header size is ${shentsize}! Expected ${SHDR}!?`, { offset: 58 });
  }
  if ((BigInt(len) - shoff) / BigInt(shentsize) < BigInt(shnum)) {
    fail("EINVAL", "H10", "Section header table is past the end of the payload!", { offset: 40 });
  }

  // S1–S6, per section from 1: elf_resolve_sections.
  const base = Number(shoff);
  const sections: XenSection[] = [];
  let symtabIndex = 0;
  for (let i = 0; i < shnum; i++) {
    const at = base + i * shentsize;
    const s: XenSection = {
      index: i,
      name: "",
      type: v.getUint32(at + 4, true),
      flags: v.getBigUint64(at + 8, true),
      addr: v.getBigUint64(at + 16, true),
      offset: v.getBigUint64(at + 24, true),
      size: v.getBigUint64(at + 32, true),
      link: v.getUint32(at + 40, true),
      info: v.getUint32(at + 44, true),
      addralign: v.getBigUint64(at + 48, true),
      entsize: v.getBigUint64(at + 56, true),
      headerOffset: at,
      data: bytes.subarray(0, 0),
      loadAddress: undefined,
    };
    sections.push(s);
    if (i === 0) continue;
    const place = { offset: at };
    if (
      s.offset < BigInt(EHDR) ||
      (s.type !== SHT.NOBITS && (s.offset > BigInt(len) || s.offset + s.size > BigInt(len)))
    ) {
      fail("EINVAL", "S1", `Section [${i}] data is outside of payload!`, place);
    }
    if (s.addralign !== 0n && (s.addralign & (s.addralign - 1n)) !== 0n) {
      fail(
        "EOPNOTSUPP",
        "S2",
        `Section [${i}] alignment 0x${s.addralign.toString(16)} is not supported!`,
        place,
      );
    }
    if (s.addralign !== 0n && s.addr % s.addralign !== 0n) {
      fail(
        "EINVAL",
        "S3",
        `Section [${i}] addr (0x${s.addr.toString(16)}) is not aligned properly (0x${
          s.addralign.toString(16)
        })!`,
        place,
      );
    }
    if (
      (s.flags & (SHF.WRITE | SHF.ALLOC)) !== 0n && s.type === SHT.NOBITS &&
      s.size > BigInt(LIVEPATCH_MAX_SIZE)
    ) {
      fail("EINVAL", "S4", `Section [${i}] .bss is bigger than allowed!`, place);
    }
    if (s.type === SHT.SYMTAB) {
      if (symtabIndex !== 0) fail("EOPNOTSUPP", "S5", "Unsupported multiple symbol tables!", place);
      symtabIndex = i;
      if (s.link >= shnum) {
        fail("EINVAL", "S6", `Symbol table idx (${s.link}) to strtab past end (${shnum})`, place);
      }
    }
    if (s.type !== SHT.NOBITS) {
      (s as { data: Uint8Array }).data = bytes.subarray(
        Number(s.offset),
        Number(s.offset + s.size),
      );
    }
  }
  if (symtabIndex === 0) fail("EINVAL", "S7", "No symbol table found!");
  const symtab = sections[symtabIndex];
  if (symtab.size === 0n || symtab.entsize < BigInt(SYM) || symtab.size % symtab.entsize !== 0n) {
    fail("EINVAL", "S8", "Symbol table header is corrupted!", { offset: symtab.headerOffset });
  }
  if (symtab.link === 0) {
    // Xen dereferences the never-filled section 0 here: undefined behaviour.
    fail("EINVAL", "S9", "Symbol table links to section 0 (Xen 4.17 dereferences NULL here)", {
      offset: symtab.headerOffset,
    });
  }
  const strtab = sections[symtab.link];
  if (!isStringTable(strtab)) {
    fail("EINVAL", "S9", "String table section is corrupted!", { offset: strtab.headerOffset });
  }

  // N1–N2: elf_resolve_section_names.
  const shstrtab = sections[shstrndx];
  if (!isStringTable(shstrtab)) {
    fail("EINVAL", "N1", "Section string table is corrupted!", { offset: shstrtab.headerOffset });
  }
  for (const s of sections.slice(1)) {
    const nameOffset = v.getUint32(s.headerOffset, true);
    if (BigInt(nameOffset) >= shstrtab.size) {
      fail("EINVAL", "N2", `Section [${s.index}] name is outside of the string table!`, {
        offset: s.headerOffset,
      });
    }
    s.name = cString(shstrtab.data, nameOffset);
  }

  // Y1: elf_get_sym. Xen counts sh_size / sh_entsize entries of sizeof(Elf64_Sym);
  // S1 and S8 keep them inside the file.
  const nsym = Number(symtab.size / symtab.entsize);
  const symbols: XenSymbol[] = [];
  const symBase = Number(symtab.offset);
  for (let i = 0; i < nsym; i++) {
    const at = symBase + i * SYM;
    const nameOffset = v.getUint32(at, true);
    if (i > 0 && BigInt(nameOffset) >= strtab.size) {
      fail("EINVAL", "Y1", `Symbol [${i}] name is outside of the string table!`, { offset: at });
    }
    const info = bytes[at + 4];
    symbols.push({
      index: i,
      name: i === 0 ? "" : cString(strtab.data, nameOffset),
      value: v.getBigUint64(at + 8, true),
      size: v.getBigUint64(at + 16, true),
      type: info & 0xf,
      bind: info >> 4,
      shndx: v.getUint16(at + 6, true),
      ignored: false,
      entryOffset: at,
    });
  }
  return { bytes, sections, symtab, strtab, symbols };
}

function isStringTable(s: XenSection): boolean {
  return s.type === SHT.STRTAB && s.size !== 0n && s.data[0] === 0 &&
    s.data[s.data.length - 1] === 0;
}

/**
 * Xen's `livepatch_elf_sec_by_name`: the first section of that name, or
 * undefined (duplicates are not detected; reference §1.2).
 *
 * @example
 * ```ts
 * import { loadXenElf, xenSectionByName } from "@lpkit/livepatch-core";
 * import { readFileSync } from "node:fs";
 * import assert from "node:assert/strict";
 * const elf = loadXenElf(readFileSync("examples/bin/hello.livepatch"));
 * assert.equal(xenSectionByName(elf, ".livepatch.funcs")?.size, 104n);
 * ```
 */
export function xenSectionByName(elf: XenElf, name: string): XenSection | undefined {
  return elf.sections.find((s) => s.index > 0 && s.name === name);
}
