/**
 * `move_payload`: where a payload's sections go in hypervisor memory
 * (reference §1.6, rows M1–M2). ALLOC sections are grouped into text (RX),
 * rw (RW) and ro (RO) regions, laid out in section order at their
 * alignment, in one page-aligned allocation: text, then rw, then ro.
 *
 * @module
 */
import { SHF, SHT } from "@lpkit/elf";
import { LivepatchError } from "./errno.ts";
import type { XenElf } from "./xen_elf.ts";

/** Page size of the payload area. */
export const PAGE_SIZE = 4096;

/** Permissions of a payload region once `secure_payload` has run. */
export type RegionKind = "text" | "rw" | "ro";

/** One region of a placed payload. */
export interface PayloadRegion {
  readonly kind: RegionKind;
  /** Address of its first byte (page aligned). */
  readonly address: bigint;
  /** Its size in bytes (unrounded). */
  readonly size: number;
}

/** A payload laid out in memory: one allocation holding all its regions. */
export interface PayloadImage {
  /** Address of the allocation (page aligned). */
  readonly base: bigint;
  /** The allocation's bytes (a whole number of pages), written by relocation. */
  readonly bytes: Uint8Array;
  readonly text: PayloadRegion;
  readonly rw: PayloadRegion;
  readonly ro: PayloadRegion;
}

const pageAlign = (n: number) => Math.ceil(n / PAGE_SIZE) * PAGE_SIZE;

/** Where a region starts in the payload area: text, then rw and ro each at a page boundary. */
function regionOffset(kind: RegionKind, textSpan: number, rwSpan: number): number {
  return kind === "text" ? 0 : kind === "rw" ? textSpan : textSpan + rwSpan;
}

/** Xen's ROUNDUP, including its quirk: alignment 0 rounds everything to 0. */
function roundUp(x: number, align: bigint): number {
  if (align === 0n) return 0;
  const a = Number(align);
  return Math.ceil(x / a) * a;
}

/**
 * Places `elf`'s ALLOC sections, copying their bytes (zeros for NOBITS) and
 * setting each section's `loadAddress`. `allocate(bytes)` returns the base
 * address of a fresh page-aligned area, or undefined when memory is short.
 * Throws -EOPNOTSUPP for a writable and executable section (M1) and
 * -ENOMEM when allocation fails (M2).
 *
 * @example
 * ```ts
 * import { loadXenElf, placePayload } from "@lpkit/livepatch-core";
 * import { readFileSync } from "node:fs";
 * import assert from "node:assert/strict";
 * const elf = loadXenElf(readFileSync("examples/bin/hello.livepatch"));
 * const image = placePayload(elf, () => 0xffff82d040800000n);
 * assert.equal(image.text.address, 0xffff82d040800000n);
 * assert.equal(image.bytes.length % 4096, 0);
 * ```
 */
export function placePayload(
  elf: XenElf,
  allocate: (bytes: number) => bigint | undefined,
): PayloadImage {
  const sizes: Record<RegionKind, number> = { text: 0, rw: 0, ro: 0 };
  const placed: { index: number; kind: RegionKind; offset: number }[] = [];
  for (const s of elf.sections.slice(1)) {
    if ((s.flags & SHF.ALLOC) === 0n) continue;
    const exec = (s.flags & SHF.EXECINSTR) !== 0n;
    const write = (s.flags & SHF.WRITE) !== 0n;
    if (exec && write) {
      throw new LivepatchError("EOPNOTSUPP", "M1", `Not supporting ${s.name} section!`, {
        section: s.name,
        offset: s.headerOffset,
      });
    }
    const kind: RegionKind = exec ? "text" : write ? "rw" : "ro";
    // calc_section: offset = ROUNDUP(size, align); size = offset + sh_size.
    const offset = roundUp(sizes[kind], s.addralign);
    sizes[kind] = offset + Number(s.size);
    placed.push({ index: s.index, kind, offset });
  }

  const textSpan = pageAlign(sizes.text);
  const rwSpan = pageAlign(sizes.rw);
  const total = pageAlign(textSpan + rwSpan + sizes.ro);
  // With the alignment-0 quirk a later section can shrink a region below an earlier one: Xen
  // 4.17 then copies past its allocation (a heap overflow). Refused, before anything is copied.
  for (const { index, kind, offset } of placed) {
    const s = elf.sections[index];
    const end = regionOffset(kind, textSpan, rwSpan) + offset + Number(s.size);
    if (end > total) {
      throw new LivepatchError(
        "EINVAL",
        "M3",
        `${s.name} ends at byte ${end} of a ${total}-byte payload area: a later section with ` +
          `sh_addralign 0 shrank the ${kind} region (Xen 4.17 would write past its allocation)`,
        { section: s.name, offset: s.headerOffset },
      );
    }
  }
  const base = total === 0 ? undefined : allocate(total);
  if (total !== 0 && base === undefined) {
    throw new LivepatchError("ENOMEM", "M2", `Could not allocate ${total} bytes for the payload`);
  }
  const start = base ?? 0n;
  const bytes = new Uint8Array(total);
  for (const { index, kind, offset } of placed) {
    const s = elf.sections[index];
    const at = regionOffset(kind, textSpan, rwSpan) + offset;
    s.loadAddress = start + BigInt(at);
    // NOBITS is zeroed explicitly: with the alignment-0 quirk it may overlap others.
    if (s.type === SHT.NOBITS) bytes.fill(0, at, at + Number(s.size));
    else bytes.set(s.data, at);
  }
  const region = (kind: RegionKind): PayloadRegion => ({
    kind,
    address: start + BigInt(regionOffset(kind, textSpan, rwSpan)),
    size: sizes[kind],
  });
  return { base: start, bytes, text: region("text"), rw: region("rw"), ro: region("ro") };
}
