/**
 * Mapping an image's sections (an ELF file's ALLOC sections, a payload's regions) into memory.
 *
 * This takes plain section descriptions so it does not depend on a particular ELF reader.
 *
 * @module
 */

import type { MappedRegion } from "./memory.ts";
import { PERM_R, PERM_RW, PERM_RX, PERM_W, PERM_X } from "./memory.ts";
import type { Machine, SymbolLookup } from "./machine.ts";

/** ELF section flags used for permissions. */
export const SHF_WRITE = 0x1n;
/** SHF_ALLOC. */
export const SHF_ALLOC = 0x2n;
/** SHF_EXECINSTR. */
export const SHF_EXECINSTR = 0x4n;
/** SHT_NOBITS (`.bss`). */
export const SHT_NOBITS = 8;

/** The fields of an ELF section this module needs (compatible with `@lpkit/elf`'s ElfSection). */
export interface SectionLike {
  /** Section name. */
  name: string;
  /** sh_type. */
  type: number;
  /** sh_flags. */
  flags: bigint;
  /** sh_addr. */
  address: bigint;
  /** sh_size. */
  size: number;
}

/**
 * How section permissions are chosen: `"elf"` from the section flags; `"xen"` as Xen maps its
 * own image at run time, where code is never writable and read-only data is not writable even
 * though Debian's xen-syms marks `.text` WAX and `.rodata` WA (the linker script merges them):
 * executable sections RX, `.rodata*` and notes R, the rest RW.
 */
export type PermissionModel = "elf" | "xen";

/**
 * Xen's run-time permissions for a section of its image (see {@linkcode PermissionModel}).
 *
 * @example
 * ```ts
 * import { PERM_R, PERM_RW, PERM_RX, xenSectionPerms } from "@lpkit/x86-emu";
 * import assert from "node:assert/strict";
 * assert.equal(xenSectionPerms({ name: ".text", type: 1, flags: 0x7n, address: 1n, size: 1 }), PERM_RX);
 * assert.equal(xenSectionPerms({ name: ".rodata", type: 1, flags: 0x3n, address: 1n, size: 1 }), PERM_R);
 * assert.equal(xenSectionPerms({ name: ".bss", type: 8, flags: 0x3n, address: 1n, size: 1 }), PERM_RW);
 * ```
 */
export function xenSectionPerms(s: SectionLike): number {
  if (s.flags & SHF_EXECINSTR) return PERM_RX;
  if (s.name.startsWith(".rodata") || s.type === SHT_NOTE || (s.flags & SHF_WRITE) === 0n) {
    return PERM_R;
  }
  return PERM_RW;
}

/** SHT_NOTE. */
export const SHT_NOTE = 7;

/**
 * Regions to map for the ALLOC sections of an image: permissions from the section flags
 * (always readable; writable with SHF_WRITE; executable with SHF_EXECINSTR) or Xen's run-time
 * ones (`permissions: "xen"`), NOBITS zero-filled.
 *
 * @param sections Section headers.
 * @param data Returns a section's contents.
 * @param permissions Permission model (default `"elf"`).
 * @returns Regions for {@linkcode Machine.map}.
 *
 * @example
 * ```ts
 * import { sectionRegions, PERM_RX } from "@lpkit/x86-emu";
 * import assert from "node:assert/strict";
 * const regions = sectionRegions(
 *   [{ name: ".text", type: 1, flags: 0x6n, address: 0x1000n, size: 2 }],
 *   () => new Uint8Array([0x90, 0xc3]),
 * );
 * assert.equal(regions[0]!.perms, PERM_RX);
 * ```
 */
export function sectionRegions(
  sections: readonly SectionLike[],
  data: (s: SectionLike) => Uint8Array,
  permissions: PermissionModel = "elf",
): MappedRegion[] {
  const out: MappedRegion[] = [];
  for (const s of sections) {
    if ((s.flags & SHF_ALLOC) === 0n || s.size === 0 || s.address === 0n) continue;
    let perms = PERM_R;
    if (permissions === "xen") perms = xenSectionPerms(s);
    else {
      if (s.flags & SHF_WRITE) perms |= PERM_W;
      if (s.flags & SHF_EXECINSTR) perms |= PERM_X;
    }
    out.push({
      address: s.address,
      data: s.type === SHT_NOBITS ? new Uint8Array(0) : data(s),
      size: s.size,
      perms,
    });
  }
  return out;
}

/**
 * Map regions into a machine. Where two regions share a page, the page gets the union of their
 * permissions (a page cannot be split), so map sections on page boundaries for exact checks.
 *
 * @param machine Target machine.
 * @param regions Regions from {@linkcode sectionRegions} or a payload loader.
 *
 * @example
 * ```ts
 * import { Machine, mapRegions, PERM_RX } from "@lpkit/x86-emu";
 * import assert from "node:assert/strict";
 * const m = new Machine({ cpus: 1 });
 * mapRegions(m, [{ address: 0x1000n, data: new Uint8Array([0xc3]), size: 1, perms: PERM_RX }]);
 * assert.equal(m.memory.permissions(0x1000n), PERM_RX);
 * ```
 */
export function mapRegions(machine: Machine, regions: readonly MappedRegion[]): void {
  const perPage = new Map<bigint, number>();
  for (const r of regions) {
    for (let p = r.address & ~0xfffn; p < r.address + BigInt(r.size); p += 0x1000n) {
      perPage.set(p, (perPage.get(p) ?? 0) | r.perms);
    }
  }
  for (const r of regions) machine.map({ ...r, perms: r.perms });
  for (const [p, perms] of perPage) machine.memory.protect(p, 1, perms);
}

/** The parts of an ELF file {@linkcode loadImage} uses (`@lpkit/elf`'s `ElfFile` fits). */
export interface ImageLike {
  /** Section headers. */
  readonly sections: readonly SectionLike[];
  /** A section's bytes. */
  sectionData(section: never): Uint8Array;
  /** The symbol index (names and `%pS` formatting). */
  symbolIndex(): SymbolLookup;
}

/**
 * Map an executable image (xen-syms, the minivisor) into a machine: its ALLOC sections with
 * the chosen permission model, and its symbols for string targets and backtraces.
 *
 * @param machine Target machine.
 * @param image The parsed ELF file.
 * @param permissions Permission model (default `"xen"`, Xen's run-time permissions).
 * @returns The regions mapped.
 *
 * @example
 * ```ts
 * import { parseElf } from "@lpkit/elf";
 * import { loadImage, Machine, PERM_RX } from "@lpkit/x86-emu";
 * import { readFileSync } from "node:fs";
 * import assert from "node:assert/strict";
 * const m = new Machine({ cpus: 1 });
 * loadImage(m, parseElf(readFileSync("examples/bin/minivisor")));
 * assert.equal(m.memory.permissions(m.resolve("xen_major_version")), PERM_RX);
 * assert.equal(m.call(0, "xen_major_version"), 4n);
 * ```
 */
export function loadImage(
  machine: Machine,
  image: ImageLike,
  permissions: PermissionModel = "xen",
): MappedRegion[] {
  const get = image.sectionData.bind(image) as (s: SectionLike) => Uint8Array;
  const regions = sectionRegions(image.sections, get, permissions);
  mapRegions(machine, regions);
  machine.symbols = image.symbolIndex();
  return regions;
}
