/**
 * ELF constants (System V gABI and the x86-64 psABI) and their display names.
 *
 * @module
 */

/** File classes (`EI_CLASS`). */
export const ELFCLASS = { NONE: 0, ELF32: 1, ELF64: 2 } as const;
/** Data encodings (`EI_DATA`). */
export const ELFDATA = { NONE: 0, LSB: 1, MSB: 2 } as const;

/** Object file types (`e_type`). */
export const ET = { NONE: 0, REL: 1, EXEC: 2, DYN: 3, CORE: 4 } as const;

/** A few machine numbers (`e_machine`). */
export const EM = { NONE: 0, X86: 3, ARM: 40, X86_64: 62, AARCH64: 183, RISCV: 243 } as const;

/** Special section indices (`st_shndx`, `e_shstrndx`). */
export const SHN = {
  UNDEF: 0,
  LORESERVE: 0xff00,
  ABS: 0xfff1,
  COMMON: 0xfff2,
  XINDEX: 0xffff,
} as const;

/** Section types (`sh_type`). */
export const SHT = {
  NULL: 0,
  PROGBITS: 1,
  SYMTAB: 2,
  STRTAB: 3,
  RELA: 4,
  HASH: 5,
  DYNAMIC: 6,
  NOTE: 7,
  NOBITS: 8,
  REL: 9,
  SHLIB: 10,
  DYNSYM: 11,
  INIT_ARRAY: 14,
  FINI_ARRAY: 15,
  PREINIT_ARRAY: 16,
  GROUP: 17,
  SYMTAB_SHNDX: 18,
  GNU_HASH: 0x6ffffff6,
  GNU_VERDEF: 0x6ffffffd,
  GNU_VERNEED: 0x6ffffffe,
  GNU_VERSYM: 0x6fffffff,
} as const;

/** Section flags (`sh_flags`), as bigints since the field is 64-bit in ELF64. */
export const SHF = {
  WRITE: 0x1n,
  ALLOC: 0x2n,
  EXECINSTR: 0x4n,
  MERGE: 0x10n,
  STRINGS: 0x20n,
  INFO_LINK: 0x40n,
  LINK_ORDER: 0x80n,
  GROUP: 0x200n,
  TLS: 0x400n,
  COMPRESSED: 0x800n,
} as const;

/** Symbol types (`ELF_ST_TYPE`). */
export const STT = {
  NOTYPE: 0,
  OBJECT: 1,
  FUNC: 2,
  SECTION: 3,
  FILE: 4,
  COMMON: 5,
  TLS: 6,
  GNU_IFUNC: 10,
} as const;

/** Symbol bindings (`ELF_ST_BIND`). */
export const STB = { LOCAL: 0, GLOBAL: 1, WEAK: 2, GNU_UNIQUE: 10 } as const;

/** Symbol visibilities (`ELF_ST_VISIBILITY`). */
export const STV = { DEFAULT: 0, INTERNAL: 1, HIDDEN: 2, PROTECTED: 3 } as const;

/** Program header types (`p_type`). */
export const PT = {
  NULL: 0,
  LOAD: 1,
  DYNAMIC: 2,
  INTERP: 3,
  NOTE: 4,
  SHLIB: 5,
  PHDR: 6,
  TLS: 7,
  GNU_EH_FRAME: 0x6474e550,
  GNU_STACK: 0x6474e551,
  GNU_RELRO: 0x6474e552,
  GNU_PROPERTY: 0x6474e553,
} as const;

/** Segment permission flags (`p_flags`). */
export const PF = { X: 1, W: 2, R: 4 } as const;

/** GNU note types. */
export const NT_GNU = {
  ABI_TAG: 1,
  HWCAP: 2,
  BUILD_ID: 3,
  GOLD_VERSION: 4,
  PROPERTY_TYPE_0: 5,
} as const;

/** x86-64 relocation types (`ELF64_R_TYPE`), the subset seen in kernels and live patches. */
export const R_X86_64 = {
  NONE: 0,
  "64": 1,
  PC32: 2,
  GOT32: 3,
  PLT32: 4,
  COPY: 5,
  GLOB_DAT: 6,
  JUMP_SLOT: 7,
  RELATIVE: 8,
  GOTPCREL: 9,
  "32": 10,
  "32S": 11,
  "16": 12,
  PC16: 13,
  "8": 14,
  PC8: 15,
  PC64: 24,
  GOTOFF64: 25,
  GOTPC32: 26,
  SIZE32: 32,
  SIZE64: 33,
  GOTPCRELX: 41,
  REX_GOTPCRELX: 42,
} as const;

function invert(table: Record<string, number>): Map<number, string> {
  return new Map(Object.entries(table).map(([name, value]) => [value, name]));
}

const sectionTypeNames = invert(SHT);
const symbolTypeNames = invert(STT);
const symbolBindNames = invert(STB);
const visibilityNames = invert(STV);
const segmentTypeNames = invert(PT);
const fileTypeNames = invert(ET);
const machineNames = invert(EM);
const x86RelocationNames = invert(R_X86_64);

function nameOr(names: Map<number, string>, value: number): string {
  return names.get(value) ?? `0x${value.toString(16)}`;
}

/**
 * Names a section type as readelf does without its `SHT_` prefix.
 *
 * @example
 * ```ts
 * import { sectionTypeName } from "@lpkit/elf";
 * import assert from "node:assert/strict";
 * assert.equal(sectionTypeName(4), "RELA");
 * assert.equal(sectionTypeName(0x60000001), "0x60000001");
 * ```
 */
export function sectionTypeName(type: number): string {
  return nameOr(sectionTypeNames, type);
}

/**
 * Names a symbol type (`FUNC`, `OBJECT`, ...).
 *
 * @example
 * ```ts
 * import { symbolTypeName } from "@lpkit/elf";
 * import assert from "node:assert/strict";
 * assert.equal(symbolTypeName(2), "FUNC");
 * ```
 */
export function symbolTypeName(type: number): string {
  return nameOr(symbolTypeNames, type);
}

/**
 * Names a symbol binding (`LOCAL`, `GLOBAL`, `WEAK`).
 *
 * @example
 * ```ts
 * import { symbolBindName } from "@lpkit/elf";
 * import assert from "node:assert/strict";
 * assert.equal(symbolBindName(1), "GLOBAL");
 * ```
 */
export function symbolBindName(bind: number): string {
  return nameOr(symbolBindNames, bind);
}

/**
 * Names a symbol visibility (`DEFAULT`, `HIDDEN`, ...).
 *
 * @example
 * ```ts
 * import { visibilityName } from "@lpkit/elf";
 * import assert from "node:assert/strict";
 * assert.equal(visibilityName(2), "HIDDEN");
 * ```
 */
export function visibilityName(visibility: number): string {
  return nameOr(visibilityNames, visibility);
}

/**
 * Names a program header type (`LOAD`, `NOTE`, `GNU_STACK`, ...).
 *
 * @example
 * ```ts
 * import { segmentTypeName } from "@lpkit/elf";
 * import assert from "node:assert/strict";
 * assert.equal(segmentTypeName(1), "LOAD");
 * ```
 */
export function segmentTypeName(type: number): string {
  return nameOr(segmentTypeNames, type);
}

/**
 * Names an object file type (`REL`, `EXEC`, `DYN`, ...).
 *
 * @example
 * ```ts
 * import { fileTypeName } from "@lpkit/elf";
 * import assert from "node:assert/strict";
 * assert.equal(fileTypeName(1), "REL");
 * ```
 */
export function fileTypeName(type: number): string {
  return nameOr(fileTypeNames, type);
}

/**
 * Names a machine (`X86_64`, `AARCH64`, ...).
 *
 * @example
 * ```ts
 * import { machineName } from "@lpkit/elf";
 * import assert from "node:assert/strict";
 * assert.equal(machineName(62), "X86_64");
 * ```
 */
export function machineName(machine: number): string {
  return nameOr(machineNames, machine);
}

/**
 * Names an x86-64 relocation type with its `R_X86_64_` prefix.
 *
 * @example
 * ```ts
 * import { x86RelocationName } from "@lpkit/elf";
 * import assert from "node:assert/strict";
 * assert.equal(x86RelocationName(2), "R_X86_64_PC32");
 * ```
 */
export function x86RelocationName(type: number): string {
  const name = x86RelocationNames.get(type);
  return name === undefined ? `R_X86_64_0x${type.toString(16)}` : `R_X86_64_${name}`;
}
