/**
 * A strict, zero-copy ELF reader: ELF32 and ELF64 in either byte order, with
 * section and program headers, string and symbol tables, REL/RELA
 * relocations, notes and GNU build-ids, and symbol lookup by name (including
 * Xen's `file#name` names for local symbols) and by address.
 *
 * Every malformation raises an {@linkcode ElfError} with a stable `code` and
 * the byte offset; no input makes the reader throw anything else.
 *
 * @example Inspecting a live-patch payload
 * ```ts
 * import { parseElf, sectionTypeName } from "@lpkit/elf";
 * import { readFileSync } from "node:fs";
 * import assert from "node:assert/strict";
 *
 * const elf = parseElf(readFileSync("examples/bin/hello.livepatch"));
 * const names = elf.sections.map((s) => `${s.name}:${sectionTypeName(s.type)}`);
 * assert.ok(names.includes(".livepatch.funcs:PROGBITS"));
 * const depends = elf.sectionByName(".livepatch.depends");
 * assert.equal(depends && elf.notes(depends)[0].name, "GNU");
 * ```
 *
 * @module
 */
export * from "./constants.ts";
export * from "./errors.ts";
export * from "./elf_file.ts";
export type { ElfNote } from "./notes.ts";
export type { ElfRelocation } from "./relocations.ts";
export type { ElfSymbol } from "./symbols.ts";
export * from "./symbol_index.ts";
export * from "./writer.ts";
