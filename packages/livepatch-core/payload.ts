/**
 * What a live-patch payload file says, read without loading it: its funcs
 * (with the relocations that fill their pointers), build-id and
 * dependencies, hooks and `.modinfo`. This is the author's view used by
 * `lpkit inspect`; the loader applies Xen's checks separately.
 *
 * @module
 */
import {
  type ElfFile,
  type ElfRelocation,
  type ElfSection,
  type ElfSymbol,
  NT_GNU,
  SHN,
  SHT,
  STT,
  x86RelocationName,
} from "@lpkit/elf";
import { decodeFuncs, detectFuncLayout, FUNC_FIELD, FUNC_V2, type RawFunc } from "./funcs.ts";

/** Section names with a meaning to Xen (reference §1.2). */
export const SECTION = {
  funcs: ".livepatch.funcs",
  depends: ".livepatch.depends",
  xenDepends: ".livepatch.xen_depends",
  buildId: ".note.gnu.build-id",
  modinfo: ".modinfo",
} as const;

/** Hook sections: arrays of `void (*)(void)` and single-pointer hooks. */
export const HOOK_SECTIONS = {
  load: { section: ".livepatch.hooks.load", single: false },
  unload: { section: ".livepatch.hooks.unload", single: false },
  preapply: { section: ".livepatch.hooks.preapply", single: true },
  apply: { section: ".livepatch.hooks.apply", single: true },
  postapply: { section: ".livepatch.hooks.postapply", single: true },
  prerevert: { section: ".livepatch.hooks.prerevert", single: true },
  revert: { section: ".livepatch.hooks.revert", single: true },
  postrevert: { section: ".livepatch.hooks.postrevert", single: true },
} as const;

/** The kinds of hook a payload can carry. */
export type HookKind = keyof typeof HOOK_SECTIONS;

/** What a relocation makes a pointer field point to. */
export interface PointerTarget {
  /** Display form: `symbol`, `symbol+0x8`, or `.section+0x10`. */
  readonly display: string;
  /** The symbol's name (or the section's, for section symbols). */
  readonly symbol: string;
  /** "undefined": resolved by the host at upload; "defined": inside the payload; "absolute": a constant. */
  readonly kind: "undefined" | "defined" | "absolute";
  /** The relocation addend. */
  readonly addend: bigint;
  /** The relocation type, e.g. `R_X86_64_64`. */
  readonly relocation: string;
}

/** One funcs entry with its pointers explained. */
export interface FuncDescription extends RawFunc {
  /** Where `name` points, when a relocation fills it. */
  readonly nameTarget: PointerTarget | undefined;
  /** The string `name` points to, when it lies in the payload. */
  readonly nameString: string | undefined;
  /** Where `new_addr` points (the replacement function). */
  readonly newTarget: PointerTarget | undefined;
  /** Where `old_addr` points (the function to patch). */
  readonly oldTarget: PointerTarget | undefined;
}

/** One hook section. */
export interface HookDescription {
  /** Which hook. */
  readonly kind: HookKind;
  /** Its section name. */
  readonly section: string;
  /** Size in bytes. */
  readonly size: number;
  /** The function each pointer slot holds (undefined: no relocation, i.e. NULL). */
  readonly targets: (PointerTarget | undefined)[];
}

/** A payload's structure, as `lpkit inspect` shows it. */
export interface PayloadDescription {
  /** The payload's own build-id (hex). */
  readonly buildId: string | undefined;
  /** `.livepatch.depends`: the build-id this payload applies on top of. */
  readonly depends: string | undefined;
  /** `.livepatch.xen_depends`: the hypervisor build-id required at upload. */
  readonly xenDepends: string | undefined;
  /** Layout of `.livepatch.funcs`: "v1", "v2", "none" (no section) or "unknown". */
  readonly format: "v1" | "v2" | "none" | "unknown";
  /** The funcs entries. */
  readonly funcs: FuncDescription[];
  /** Hook sections present. */
  readonly hooks: HookDescription[];
  /** `.modinfo` strings, or undefined when there is no such section. */
  readonly modinfo: string[] | undefined;
  /** Structural problems noticed while reading (the loader reports them with errnos). */
  readonly problems: string[];
}

interface Resolved {
  relocation: ElfRelocation;
  symbol: ElfSymbol | undefined;
}

/**
 * Relocations that patch `target`, keyed by offset within it, from every
 * REL/RELA section whose `sh_info` names it.
 *
 * @example
 * ```ts
 * import { parseElf } from "@lpkit/elf";
 * import { relocationsAgainst } from "@lpkit/livepatch-core";
 * import { readFileSync } from "node:fs";
 * import assert from "node:assert/strict";
 * const elf = parseElf(readFileSync("examples/bin/hello.livepatch"));
 * const funcs = elf.sectionByName(".livepatch.funcs")!;
 * assert.equal(relocationsAgainst(elf, funcs).get(16n)?.symbol?.name, "xen_extra_version");
 * ```
 */
export function relocationsAgainst(elf: ElfFile, target: ElfSection): Map<bigint, Resolved> {
  const out = new Map<bigint, Resolved>();
  for (const section of elf.sections) {
    if ((section.type !== SHT.RELA && section.type !== SHT.REL) || section.info !== target.index) {
      continue;
    }
    const symtab = elf.sections[section.link];
    const symbols = symtab === undefined ? [] : elf.symbols(symtab);
    for (const relocation of elf.relocations(section)) {
      out.set(relocation.offset, { relocation, symbol: symbols[relocation.symbolIndex] });
    }
  }
  return out;
}

/** Named functions and objects by (section index, offset), to name `.text+0x10` targets. */
type SymbolsAt = Map<string, string>;

function symbolsAt(elf: ElfFile): SymbolsAt {
  const out: SymbolsAt = new Map();
  for (const s of elf.symbols()) {
    if ((s.type === STT.FUNC || s.type === STT.OBJECT) && s.name !== "") {
      const key = `${s.sectionIndex}:${s.value}`;
      if (!out.has(key)) out.set(key, s.name);
    }
  }
  return out;
}

function describeTarget(
  elf: ElfFile,
  r: Resolved | undefined,
  named: SymbolsAt,
): PointerTarget | undefined {
  if (r === undefined) return undefined;
  const { relocation } = r;
  let symbol = r.symbol;
  const relocationName = x86RelocationName(relocation.type);
  if (symbol === undefined) {
    return {
      display: `?+0x${relocation.addend.toString(16)}`,
      symbol: "?",
      kind: "absolute",
      addend: relocation.addend,
      relocation: relocationName,
    };
  }
  let addend = relocation.addend;
  // gcc relocates against the section symbol for statics: name the function there.
  const alias = symbol.type === STT.SECTION
    ? named.get(`${symbol.sectionIndex}:${symbol.value + addend}`)
    : undefined;
  if (alias !== undefined) {
    symbol = { ...symbol, name: alias, type: STT.FUNC };
    addend = 0n;
  }
  const isSection = symbol.type === STT.SECTION;
  const name = isSection ? elf.sections[symbol.sectionIndex]?.name ?? "?" : symbol.name;
  const kind = symbol.sectionIndex === SHN.UNDEF
    ? "undefined"
    : symbol.sectionIndex === SHN.ABS
    ? "absolute"
    : "defined";
  const display = addend === 0n
    ? name
    : `${name}${addend < 0n ? "-" : "+"}0x${(addend < 0n ? -addend : addend).toString(16)}`;
  return { display, symbol: name, kind, addend, relocation: relocationName };
}

/** The NUL-terminated string a relocated pointer designates inside the payload. */
function stringAt(elf: ElfFile, r: Resolved | undefined): string | undefined {
  const symbol = r?.symbol;
  if (symbol === undefined || symbol.sectionIndex === SHN.UNDEF) return undefined;
  const section = elf.sections[symbol.sectionIndex];
  if (section === undefined || section.type === SHT.NOBITS) return undefined;
  const data = elf.sectionData(section);
  const start = symbol.value + r!.relocation.addend;
  if (start < 0n || start >= BigInt(data.length)) return undefined;
  const end = data.indexOf(0, Number(start));
  if (end < 0) return undefined;
  return new TextDecoder().decode(data.subarray(Number(start), end));
}

/** The GNU build-id note carried in a section, as hex.
 *
 * @example
 * ```ts
 * import { parseElf } from "@lpkit/elf";
 * import { noteBuildId } from "@lpkit/livepatch-core";
 * import { readFileSync } from "node:fs";
 * import assert from "node:assert/strict";
 * const elf = parseElf(readFileSync("examples/bin/hello.livepatch"));
 * assert.match(noteBuildId(elf, elf.sectionByName(".livepatch.depends")) ?? "", /^[0-9a-f]{40}$/);
 * ```
 */
export function noteBuildId(elf: ElfFile, section: ElfSection | undefined): string | undefined {
  if (section === undefined) return undefined;
  const note = elf.notes(section).find((n) => n.name === "GNU" && n.type === NT_GNU.BUILD_ID);
  return note === undefined
    ? undefined
    : Array.from(note.desc, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Reads a payload's structure. Raises only {@linkcode ElfError} (for a
 * malformed ELF file); oddities of the live-patch structure are listed in
 * `problems` so that everything readable is still shown.
 *
 * @example
 * ```ts
 * import { parseElf } from "@lpkit/elf";
 * import { describePayload } from "@lpkit/livepatch-core";
 * import { readFileSync } from "node:fs";
 * import assert from "node:assert/strict";
 *
 * const payload = describePayload(parseElf(readFileSync("examples/bin/hello.livepatch")));
 * assert.equal(payload.format, "v2");
 * assert.equal(payload.funcs[0].oldTarget?.symbol, "xen_extra_version");
 * ```
 */
export function describePayload(elf: ElfFile): PayloadDescription {
  const problems: string[] = [];
  const first = (name: string) => {
    const all = elf.sectionsByName(name);
    if (all.length > 1) problems.push(`${name} appears ${all.length} times; Xen uses the first`);
    return all[0];
  };

  const named = symbolsAt(elf);
  const funcsSection = first(SECTION.funcs);
  let format: PayloadDescription["format"] = "none";
  const funcs: FuncDescription[] = [];
  if (funcsSection !== undefined) {
    const data = elf.sectionData(funcsSection);
    let layout = detectFuncLayout(data);
    if (layout === undefined) {
      format = "unknown";
      problems.push(
        data.length <= FUNC_FIELD.version
          ? `${SECTION.funcs} is too short (${data.length} bytes) for one entry`
          : `${SECTION.funcs} starts with version ${
            data[FUNC_FIELD.version]
          }, not 1 or 2: read with the v2 layout, as Xen 4.17 does`,
      );
      layout = FUNC_V2;
    } else {
      format = layout.version === 1 ? "v1" : "v2";
    }
    if (data.length % layout.size !== 0) {
      problems.push(
        `${SECTION.funcs} is ${data.length} bytes, not a multiple of the v${layout.version} entry size ${layout.size}`,
      );
    }
    const relocs = relocationsAgainst(elf, funcsSection);
    for (const raw of decodeFuncs(data, layout)) {
      const at = (field: number) => relocs.get(BigInt(raw.offset + field));
      if (raw.version !== layout.version && format !== "unknown") {
        problems.push(`funcs[${raw.index}] has version ${raw.version}, unlike entry 0`);
      }
      funcs.push({
        ...raw,
        nameTarget: describeTarget(elf, at(FUNC_FIELD.name), named),
        nameString: stringAt(elf, at(FUNC_FIELD.name)),
        newTarget: describeTarget(elf, at(FUNC_FIELD.newAddr), named),
        oldTarget: describeTarget(elf, at(FUNC_FIELD.oldAddr), named),
      });
    }
  }

  const hooks: HookDescription[] = [];
  for (const [kind, { section: name }] of Object.entries(HOOK_SECTIONS)) {
    const section = first(name);
    if (section === undefined) continue;
    const relocs = relocationsAgainst(elf, section);
    const targets = Array.from(
      { length: Math.floor(section.size / 8) },
      (_, i) => describeTarget(elf, relocs.get(BigInt(i * 8)), named),
    );
    hooks.push({ kind: kind as HookKind, section: name, size: section.size, targets });
  }

  const modinfoSection = first(SECTION.modinfo);
  let modinfo: string[] | undefined;
  if (modinfoSection !== undefined) {
    const text = new TextDecoder().decode(elf.sectionData(modinfoSection));
    modinfo = text.split("\0").filter((s) => s !== "");
  }

  return {
    buildId: noteBuildId(elf, first(SECTION.buildId)),
    depends: noteBuildId(elf, first(SECTION.depends)),
    xenDepends: noteBuildId(elf, first(SECTION.xenDepends)),
    format,
    funcs,
    hooks,
    modinfo,
    problems,
  };
}
