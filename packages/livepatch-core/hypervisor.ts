/**
 * The hypervisor image a host runs: Debian's `xen-syms` or the minivisor
 * example. What the live-patch code needs from it: the sections to map with
 * the permissions Xen runs them with, Xen's symbol table (`file#name` for
 * statics, reference §1.5) and the build-id payloads must depend on.
 *
 * @module
 */
import { type ElfFile, type ElfSection, parseElf, SHF, SHT, type SymbolIndex } from "@lpkit/elf";
import { PERM_R, PERM_RW, PERM_RX } from "@lpkit/x86-emu";
import { LivepatchError } from "./errno.ts";

/** One section of the image as it is mapped at run time. */
export interface ImageSection {
  /** Section name, e.g. `.text`. */
  readonly name: string;
  /** Virtual address. */
  readonly address: bigint;
  /** Size in bytes. */
  readonly size: number;
  /** Run-time permissions (`PERM_*` of `@lpkit/x86-emu`). */
  readonly perms: number;
  /** Contents; empty for `.bss` (zero-filled when mapped). */
  readonly data: Uint8Array;
}

/** A hypervisor image, read once. */
export interface HypervisorImage {
  /** The ELF file. */
  readonly elf: ElfFile;
  /** The GNU build-id, or undefined when the image has none. */
  readonly buildId: Uint8Array | undefined;
  /** The build-id as hex, or undefined. */
  readonly buildIdHex: string | undefined;
  /** The ALLOC sections with their run-time permissions. */
  readonly sections: readonly ImageSection[];
  /** Xen's symbol table. */
  readonly symbols: SymbolIndex;
  /** Whether this is the bundled minivisor (it can boot; xen-syms cannot). */
  readonly kind: "minivisor" | "xen";
  /** Lowest and highest+1 addresses of the executable sections. */
  readonly text: { readonly start: bigint; readonly end: bigint };
  /** The end of the image, rounded up to 2 MiB (where Xen's vmap area for payloads starts). */
  readonly end: bigint;
}

const hexOf = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

/**
 * Run-time permissions of an image section. Xen's linker script makes the
 * whole image one RWX segment (xen-syms' `.text` is even flagged `WAX`), but
 * at run time Xen maps text RX and rodata RO; the names say which is which.
 */
function runtimePerms(s: ElfSection): number {
  if ((s.flags & SHF.EXECINSTR) !== 0n) return PERM_RX;
  if (s.name.startsWith(".rodata") || s.name.startsWith(".note") || (s.flags & SHF.WRITE) === 0n) {
    return PERM_R;
  }
  return PERM_RW;
}

/**
 * Reads a hypervisor image: an `ET_EXEC` x86-64 ELF with a symbol table.
 * Invalid files raise `ElfError` (from the reader) or a {@linkcode LivepatchError}
 * with code `IMAGE` naming what is missing.
 *
 * @example
 * ```ts
 * import { loadHypervisorImage } from "@lpkit/livepatch-core";
 * import { readFileSync } from "node:fs";
 * import assert from "node:assert/strict";
 * const image = loadHypervisorImage(readFileSync("examples/bin/minivisor"));
 * assert.equal(image.kind, "minivisor");
 * assert.ok(image.symbols.byName("xen_extra_version") !== undefined);
 * ```
 */
export function loadHypervisorImage(bytes: Uint8Array): HypervisorImage {
  const elf = parseElf(bytes);
  const fail = (detail: string): never => {
    throw new LivepatchError("EINVAL", "IMAGE", `not a hypervisor image: ${detail}`);
  };
  if (elf.header.class !== 64 || elf.header.machine !== 62) fail("not an x86-64 ELF64 file");
  if (elf.header.type !== 2) fail("not an executable (ET_EXEC)");
  if (elf.symbolTableSection() === undefined) fail("no symbol table (use xen-syms, not xen.gz)");
  const symbols = elf.symbolIndex();
  const sections: ImageSection[] = [];
  for (const s of elf.sections) {
    if ((s.flags & SHF.ALLOC) === 0n || s.size === 0 || s.address === 0n) continue;
    sections.push({
      name: s.name,
      address: s.address,
      size: s.size,
      perms: runtimePerms(s),
      data: s.type === SHT.NOBITS ? new Uint8Array(0) : elf.sectionData(s),
    });
  }
  const exec = sections.filter((s) => s.perms === PERM_RX);
  if (exec.length === 0) fail("no executable section");
  const text = {
    start: exec.reduce((m, s) => (s.address < m ? s.address : m), exec[0].address),
    end: exec.reduce((m, s) => {
      const e = s.address + BigInt(s.size);
      return e > m ? e : m;
    }, 0n),
  };
  const last = sections.reduce((m, s) => {
    const e = s.address + BigInt(s.size);
    return e > m ? e : m;
  }, 0n);
  const id = elf.buildId();
  const buildId = id === undefined ? undefined : Uint8Array.from(
    id.match(/../g) ?? [],
    (b) => parseInt(b, 16),
  );
  const isMinivisor = symbols.byName("check_for_livepatch_work") !== undefined &&
    symbols.byName("ap_start") !== undefined &&
    symbols.byName("livepatch_work_to_do") !== undefined;
  return {
    elf,
    buildId,
    buildIdHex: buildId === undefined ? undefined : hexOf(buildId),
    sections,
    symbols,
    kind: isMinivisor ? "minivisor" : "xen",
    text,
    end: (last + 0x1fffffn) & ~0x1fffffn,
  };
}

/**
 * Xen's `symbols_lookup_by_name` on the image: exact names, `file#name` for
 * statics, no `symbol+offset` syntax (reference §1.5).
 *
 * @example
 * ```ts
 * import { imageSymbolAddress, loadHypervisorImage } from "@lpkit/livepatch-core";
 * import { readFileSync } from "node:fs";
 * import assert from "node:assert/strict";
 * const image = loadHypervisorImage(readFileSync("examples/bin/minivisor"));
 * assert.equal(imageSymbolAddress(image, "no_such_symbol"), undefined);
 * ```
 */
export function imageSymbolAddress(image: HypervisorImage, name: string): bigint | undefined {
  if (name === "") return undefined;
  return image.symbols.byName(name)?.value;
}
