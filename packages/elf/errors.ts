/**
 * The one error type of the ELF reader.
 *
 * @module
 */

/** Stable codes of {@linkcode ElfError}, one per kind of malformation. */
export type ElfErrorCode =
  /** A read ran past the end of the file. */
  | "TRUNCATED"
  /** The file does not start with `\x7fELF`. */
  | "BAD_MAGIC"
  /** `EI_CLASS` is neither ELFCLASS32 nor ELFCLASS64. */
  | "BAD_CLASS"
  /** `EI_DATA` is neither little nor big endian. */
  | "BAD_ENCODING"
  /** `EI_VERSION` or `e_version` is not 1. */
  | "BAD_VERSION"
  /** `e_ehsize`, `e_phentsize` or `e_shentsize` is not the size of its structure. */
  | "BAD_ENTRY_SIZE"
  /** The section or program header table does not lie inside the file. */
  | "BAD_TABLE"
  /** `e_shstrndx` does not name a section. */
  | "BAD_SHSTRNDX"
  /** Section 0 is not an all-zero `SHT_NULL` entry (extended-numbering fields aside). */
  | "BAD_NULL_SECTION"
  /** A section's or segment's bytes do not lie inside the file. */
  | "BAD_BOUNDS"
  /** An alignment is not 0 or a power of two. */
  | "BAD_ALIGNMENT"
  /** A string offset lies outside its table, or the string is not NUL-terminated. */
  | "BAD_STRING"
  /** A linked section (`sh_link`) is out of range or of the wrong type. */
  | "BAD_LINK"
  /** A table's `sh_entsize` does not match its entries, or its size is not a multiple of it. */
  | "BAD_ENTSIZE"
  /** A section was asked for as a table of a type it is not. */
  | "BAD_SECTION_TYPE"
  /** A symbol's section index is out of range. */
  | "BAD_SYMBOL"
  /** A note's sizes run past its section. */
  | "BAD_NOTE"
  /** A 64-bit size or offset does not fit a JavaScript number (> 2^53). */
  | "TOO_LARGE"
  /** A lookup by name found more than one section of that name. */
  | "DUPLICATE_SECTION";

/**
 * Raised for every malformed input: a stable {@linkcode ElfErrorCode}, the byte
 * offset in the file where the problem lies, and a one-line message.
 *
 * @example Telling a truncated file from a non-ELF one
 * ```ts
 * import { ElfError, parseElf } from "@lpkit/elf";
 * import assert from "node:assert/strict";
 *
 * try {
 *   parseElf(new Uint8Array([0x7f, 0x45]));
 *   assert.fail("not reached");
 * } catch (e) {
 *   assert.ok(e instanceof ElfError);
 *   assert.equal(e.code, "TRUNCATED");
 * }
 * ```
 */
export class ElfError extends Error {
  /** What is wrong, as a stable code. */
  readonly code: ElfErrorCode;
  /** Byte offset in the file of the offending field or data. */
  readonly offset: number;

  /**
   * @param code What is wrong.
   * @param offset Byte offset of the offending field or data.
   * @param message One line, without a trailing period.
   */
  constructor(code: ElfErrorCode, offset: number, message: string) {
    super(`${message} (at offset 0x${offset.toString(16)})`);
    this.name = "ElfError";
    this.code = code;
    this.offset = offset;
  }
}
