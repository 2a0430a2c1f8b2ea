/**
 * Mapping an image's sections (an ELF file's ALLOC sections, a payload's regions) into memory.
 *
 * This takes plain section descriptions so it does not depend on a particular ELF reader.
 *
 * @module
 */

import type { MappedRegion } from "./memory.ts";
import { PERM_R, PERM_W, PERM_X } from "./memory.ts";
import type { Machine } from "./machine.ts";

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
 * Regions to map for the ALLOC sections of an image: permissions from the section flags
 * (always readable; writable with SHF_WRITE; executable with SHF_EXECINSTR), NOBITS zero-filled.
 *
 * @param sections Section headers.
 * @param data Returns a section's contents.
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
): MappedRegion[] {
  const out: MappedRegion[] = [];
  for (const s of sections) {
    if ((s.flags & SHF_ALLOC) === 0n || s.size === 0 || s.address === 0n) continue;
    let perms = PERM_R;
    if (s.flags & SHF_WRITE) perms |= PERM_W;
    if (s.flags & SHF_EXECINSTR) perms |= PERM_X;
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
