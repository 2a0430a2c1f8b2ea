/**
 * Symbol resolution and relocation, as `livepatch_elf_resolve_symbols` and
 * `livepatch_elf_perform_relocs` do it (reference §2.2 rows R1–R7, L1–L11).
 *
 * @module
 */
import { R_X86_64, SHF, SHN, SHT } from "@lpkit/elf";
import { attempt, type Report } from "./diagnostics.ts";
import { LivepatchError } from "./errno.ts";
import type { PayloadImage } from "./placement.ts";
import type { Profile } from "./profile.ts";
import type { XenElf } from "./xen_elf.ts";

/**
 * Gives every symbol its address: undefined symbols through `lookup` (Xen's
 * table, then loaded payloads' new symbols), section symbols by adding their
 * section's load address. Symbols of non-ALLOC sections are marked ignored.
 *
 * @example
 * ```ts
 * import { LivepatchError, loadXenElf, placePayload, resolveSymbols } from "@lpkit/livepatch-core";
 * import { readFileSync } from "node:fs";
 * import assert from "node:assert/strict";
 * const elf = loadXenElf(readFileSync("examples/bin/hello.livepatch"));
 * placePayload(elf, () => 0xffff82d040800000n);
 * const errors: LivepatchError[] = [];
 * resolveSymbols(elf, () => undefined, (e) => errors.push(e)); // nothing resolves
 * assert.ok(errors.every((e) => e.code === "R2"));
 * assert.ok(errors.some((e) => e.place.symbol === "xen_extra_version"));
 * ```
 */
export function resolveSymbols(
  elf: XenElf,
  lookup: (name: string) => bigint | undefined,
  report?: Report,
): void {
  for (const sym of elf.symbols.slice(1)) attempt(report, () => resolveSymbol(elf, sym, lookup));
}

function resolveSymbol(
  elf: XenElf,
  sym: XenElf["symbols"][number],
  lookup: (name: string) => bigint | undefined,
): void {
  const shnum = elf.sections.length;
  const place = { symbol: sym.name, offset: sym.entryOffset };
  switch (sym.shndx) {
    case SHN.COMMON:
      throw new LivepatchError("EINVAL", "R1", `Unexpected common symbol: ${sym.name}`, place);
    case SHN.UNDEF: {
      const address = sym.name === "" ? undefined : lookup(sym.name);
      if (address === undefined) {
        sym.unresolved = true;
        throw new LivepatchError("ENOENT", "R2", `Unknown symbol: ${sym.name}`, place);
      }
      sym.value = address;
      break;
    }
    case SHN.ABS:
      break;
    default: {
      if (sym.shndx >= SHN.LORESERVE) {
        throw new LivepatchError(
          "EOPNOTSUPP",
          "R4",
          `Unknown symbol section ${sym.shndx} for ${sym.name}`,
          place,
        );
      }
      if (sym.shndx >= shnum) {
        throw new LivepatchError(
          "EINVAL",
          "R5",
          `Symbol ${sym.name} is in section ${sym.shndx}, past the last section`,
          place,
        );
      }
      const section = elf.sections[sym.shndx];
      if ((section.flags & SHF.ALLOC) === 0n) {
        sym.ignored = true; // R6
        break;
      }
      sym.value = BigInt.asUintN(64, sym.value + section.loadAddress!);
    }
  }
}

interface Width {
  bytes: 1 | 2 | 4 | 8;
  pcRelative: boolean;
  /** How the value must fit: "signed", "unsigned", or "any" (64-bit). */
  range: "signed" | "unsigned" | "any";
}

const WIDTHS = new Map<number, Width>([
  [R_X86_64["64"], { bytes: 8, pcRelative: false, range: "any" }],
  [R_X86_64.PC32, { bytes: 4, pcRelative: true, range: "signed" }],
  [R_X86_64.PLT32, { bytes: 4, pcRelative: true, range: "signed" }],
  // The seed's TODO types (profiles "xen-4.7" and "extended").
  [R_X86_64["32"], { bytes: 4, pcRelative: false, range: "unsigned" }],
  [R_X86_64["32S"], { bytes: 4, pcRelative: false, range: "signed" }],
  [R_X86_64["16"], { bytes: 2, pcRelative: false, range: "unsigned" }],
  [R_X86_64["8"], { bytes: 1, pcRelative: false, range: "unsigned" }],
  [R_X86_64.PC16, { bytes: 2, pcRelative: true, range: "signed" }],
  [R_X86_64.PC8, { bytes: 1, pcRelative: true, range: "signed" }],
  [R_X86_64.PC64, { bytes: 8, pcRelative: true, range: "any" }],
]);

function fits(value: bigint, width: Width): boolean {
  const bits = BigInt(width.bytes * 8);
  if (width.range === "any") return true;
  if (width.range === "signed") return BigInt.asIntN(Number(bits), value) === value;
  return value >= 0n && value < 1n << bits;
}

/**
 * Applies every RELA section to the placed payload. REL sections are
 * refused on x86 (L4); the types a profile does not know fail with
 * -EOPNOTSUPP (L8), out-of-range fields with -EINVAL, values that do not
 * fit with -EOVERFLOW.
 *
 * @example
 * ```ts
 * import { loadXenElf, performRelocations, placePayload, profile, resolveSymbols } from "@lpkit/livepatch-core";
 * import { readFileSync } from "node:fs";
 * import assert from "node:assert/strict";
 * const elf = loadXenElf(readFileSync("examples/bin/hello.livepatch"));
 * const image = placePayload(elf, () => 0xffff82d040800000n);
 * resolveSymbols(elf, () => 0xffff82d040200500n);
 * performRelocations(elf, image, profile("xen-4.17"));
 * const funcs = elf.sections.find((s) => s.name === ".livepatch.funcs")!;
 * const at = Number(funcs.loadAddress! - image.base) + 16;
 * assert.equal(new DataView(image.bytes.buffer).getBigUint64(at, true), 0xffff82d040200500n);
 * ```
 */
export function performRelocations(
  elf: XenElf,
  image: PayloadImage,
  profile: Profile,
  report?: Report,
): void {
  for (const r of elf.sections.slice(1)) {
    attempt(report, () => relocateSection(elf, image, profile, r, report));
  }
}

function relocateSection(
  elf: XenElf,
  image: PayloadImage,
  profile: Profile,
  r: XenElf["sections"][number],
  report: Report | undefined,
): void {
  const shnum = elf.sections.length;
  const view = new DataView(image.bytes.buffer, image.bytes.byteOffset, image.bytes.byteLength);
  if (r.type !== SHT.RELA && r.type !== SHT.REL) return;
  if (r.info >= shnum) return; // L1: silently skipped
  const target = elf.sections[r.info];
  if ((target.flags & SHF.ALLOC) === 0n || target.loadAddress === undefined) return;
  const place = { section: r.name, offset: r.headerOffset };
  if (r.link !== elf.symtab.index) {
    throw new LivepatchError(
      "EINVAL",
      "L2",
      `Relative link of ${r.name} is incorrect (${r.link}, expected ${elf.symtab.index})`,
      place,
    );
  }
  if (r.size === 0n) return;
  const entsize = r.type === SHT.RELA ? 24n : 16n;
  if (r.entsize < entsize || r.size % r.entsize !== 0n) {
    throw new LivepatchError(
      "EINVAL",
      "L3",
      `Section relative header of ${r.name} is corrupted!`,
      place,
    );
  }
  if (r.type === SHT.REL) {
    throw new LivepatchError(
      "EOPNOTSUPP",
      "L4",
      `SHT_REL relocation section ${r.name} is not supported`,
      place,
    );
  }
  const stride = Number(r.entsize);
  const count = Number(r.size / r.entsize);
  const data = new DataView(r.data.buffer, r.data.byteOffset, r.data.byteLength);
  for (let i = 0; i < count; i++) {
    attempt(report, () => {
      const at = i * stride;
      const entry = { section: r.name, offset: Number(r.offset) + at };
      const offset = data.getBigUint64(at, true);
      const type = data.getUint32(at + 8, true);
      const symIndex = data.getUint32(at + 12, true);
      const addend = data.getBigInt64(at + 16, true);
      if (symIndex === 0) {
        throw new LivepatchError(
          "EOPNOTSUPP",
          "L5",
          `Relocation ${i} of ${r.name} has no symbol (STN_UNDEF)`,
          entry,
        );
      }
      if (symIndex >= elf.symbols.length) {
        throw new LivepatchError(
          "EINVAL",
          "L6",
          `Relocation ${i} of ${r.name} refers to symbol ${symIndex}, past the last one`,
          entry,
        );
      }
      const sym = elf.symbols[symIndex];
      if (sym.unresolved) return; // already reported (R2)
      if (sym.ignored) {
        throw new LivepatchError(
          "EINVAL",
          "L7",
          `Relocation ${i} of ${r.name} refers to ${
            sym.name || "a symbol"
          } of a non-allocated section`,
          { ...entry, symbol: sym.name },
        );
      }
      if (type === R_X86_64.NONE) return;
      const width = profile.relocationTypes.has(type) ? WIDTHS.get(type) : undefined;
      if (width === undefined) {
        throw new LivepatchError(
          "EOPNOTSUPP",
          "L8",
          `Unhandled relocation type ${type} in ${r.name}`,
          entry,
        );
      }
      if (offset >= target.size || offset + BigInt(width.bytes) > target.size) {
        throw new LivepatchError(
          "EINVAL",
          width.bytes === 8 && !width.pcRelative ? "L9" : "L10",
          `Relocation ${i} of ${r.name} is outside of ${target.name}`,
          entry,
        );
      }
      const dest = target.loadAddress! + offset;
      let value = BigInt.asUintN(64, sym.value + addend);
      if (width.pcRelative) value = BigInt.asIntN(64, value - dest);
      if (!fits(value, width)) {
        throw new LivepatchError(
          "EOVERFLOW",
          "L11",
          `Overflow in relocation ${i} in ${r.name} for ${sym.name}`,
          { ...entry, symbol: sym.name },
        );
      }
      const o = Number(dest - image.base);
      if (width.bytes === 8) view.setBigUint64(o, BigInt.asUintN(64, value), true);
      else if (width.bytes === 4) view.setUint32(o, Number(BigInt.asUintN(32, value)), true);
      else if (width.bytes === 2) view.setUint16(o, Number(BigInt.asUintN(16, value)), true);
      else view.setUint8(o, Number(BigInt.asUintN(8, value)));
    });
  }
}
