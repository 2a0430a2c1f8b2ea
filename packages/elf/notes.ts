/**
 * ELF notes (`Elf*_Nhdr` + name + descriptor), found in `SHT_NOTE` sections,
 * `PT_NOTE` segments and live-patch dependency sections.
 *
 * @module
 */
import type { ByteReader } from "./_bytes.ts";
import { toHex } from "./_bytes.ts";
import { NT_GNU } from "./constants.ts";
import { ElfError } from "./errors.ts";

/** One note. */
export interface ElfNote {
  /** Owner name without its NUL terminator, e.g. "GNU". */
  readonly name: string;
  /** `n_type`, e.g. {@linkcode NT_GNU}.BUILD_ID. */
  readonly type: number;
  /** The descriptor bytes (a view into the file). */
  readonly desc: Uint8Array;
  /** File offset of the note header. */
  readonly offset: number;
}

const latin1 = new TextDecoder("latin1");

/**
 * Reads the notes in `[start, start + size)`. Each note is a 12-byte header,
 * then the name and the descriptor, each padded to `align` (4, or 8 for
 * 8-aligned note sections).
 */
export function readNotes(r: ByteReader, start: number, size: number, align: 4 | 8): ElfNote[] {
  const end = start + size;
  // Plain arithmetic: sizes are u32 and would overflow bitwise operators.
  const pad = (n: number) => n + (align - (n % align)) % align;
  const out: ElfNote[] = [];
  let at = start;
  while (at < end) {
    if (end - at < 12) {
      throw new ElfError("BAD_NOTE", at, `Note header at 0x${at.toString(16)} is truncated`);
    }
    const namesz = r.u32(at);
    const descsz = r.u32(at + 4);
    const type = r.u32(at + 8);
    const nameAt = at + 12;
    const descAt = namesz > end - nameAt ? end + 1 : nameAt + pad(namesz);
    if (descAt > end || descsz > end - descAt) {
      throw new ElfError(
        "BAD_NOTE",
        at,
        `Note at 0x${at.toString(16)} (namesz ${namesz}, descsz ${descsz}) runs past its section`,
      );
    }
    let nameEnd = nameAt + namesz;
    while (nameEnd > nameAt && r.bytes[nameEnd - 1] === 0) nameEnd--;
    out.push({
      name: latin1.decode(r.bytes.subarray(nameAt, nameEnd)),
      type,
      desc: r.bytes.subarray(descAt, descAt + descsz),
      offset: at,
    });
    at = Math.min(end, descAt + pad(descsz));
  }
  return out;
}

/** The hex build-id among `notes` (owner "GNU", type `NT_GNU_BUILD_ID`), if any. */
export function findBuildId(notes: readonly ElfNote[]): string | undefined {
  const note = notes.find((n) => n.name === "GNU" && n.type === NT_GNU.BUILD_ID);
  return note === undefined ? undefined : toHex(note.desc);
}
