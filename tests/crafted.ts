/**
 * Crafted live-patch payloads for tests: a well-formed payload built from
 * parts (funcs, relocations, notes, hooks, metadata), every part of which a
 * test can override to break exactly one rule.
 *
 * @module
 */
import {
  buildElf,
  encodeNote,
  encodeRelocations,
  R_X86_64,
  type SectionSpec,
  SHF,
  SHN,
  SHT,
  STB,
  STT,
  type SymbolSpec,
} from "@lpkit/elf";

/** One funcs entry of a crafted payload. */
export interface CraftedFunc {
  /** Symbol whose address `old_addr` gets (an R_X86_64_64 relocation), or a number. */
  old: string | bigint;
  /** The name string (placed in .rodata, pointed to by `name`), or null for NULL. */
  name?: string | null;
  /** Replacement function symbol, defined in .text, or null for NOP mode. */
  replacement?: string | null;
  newSize?: number;
  oldSize?: number;
  version?: number;
  /** v2 expectation. */
  expect?: { enabled?: boolean; len: number; rsv?: number; data: number[] };
}

/** Options of {@linkcode craftPayload}; the defaults give a valid v2 payload. */
export interface CraftOptions {
  funcs?: CraftedFunc[];
  /** Entry layout: 104 (v2) or 64 (v1). */
  stride?: 64 | 104;
  /** Build-id of the payload itself (20 bytes, hex). */
  buildId?: string;
  /** `.livepatch.depends` build-id, or null to leave the section out. */
  depends?: string | null;
  /** `.livepatch.xen_depends` build-id, or null to leave the section out. */
  xenDepends?: string | null;
  /** `.modinfo` strings, or null for none. */
  modinfo?: string[] | null;
  /** Hook sections: kind → replacement-function symbols in the slots. */
  hooks?: Partial<
    Record<
      | "load"
      | "unload"
      | "preapply"
      | "postapply"
      | "prerevert"
      | "postrevert"
      | "apply"
      | "revert",
      string[]
    >
  >;
  /** Replacement functions to define in .text: name → code bytes. */
  text?: Record<string, number[]>;
  /** Extra sections. */
  extraSections?: SectionSpec[];
}

const hexToBytes = (hex: string) => Uint8Array.from(hex.match(/../g) ?? [], (b) => parseInt(b, 16));

/**
 * Builds a relocatable x86-64 payload like Xen's in-tree tests: funcs entries
 * whose `name`, `new_addr` and `old_addr` are filled by R_X86_64_64
 * relocations, GNU build-id notes, optional hooks and `.modinfo`.
 */
export function craftPayload(options: CraftOptions = {}): Uint8Array {
  const stride = options.stride ?? 104;
  const funcs = options.funcs ??
    [{ old: "xen_extra_version", name: "xen_extra_version", replacement: "xen_hello_world" }];
  const text = options.text ??
    { xen_hello_world: [0xf3, 0x0f, 0x1e, 0xfa, 0x31, 0xc0, 0xc3, 0x90, 0x90, 0x90, 0x90, 0x90] };

  // .text: the replacement functions, one after another.
  const textBytes: number[] = [];
  const symbols: SymbolSpec[] = [{ name: "payload.c", type: STT.FILE, section: SHN.ABS }];
  const functionAt = new Map<string, number>();
  for (const [name, code] of Object.entries(text)) {
    functionAt.set(name, textBytes.length);
    symbols.push({
      name,
      type: STT.FUNC,
      bind: STB.GLOBAL,
      section: ".text",
      value: BigInt(textBytes.length),
      size: BigInt(code.length),
    });
    textBytes.push(...code);
  }

  // .rodata: the names; .livepatch.funcs with its relocations.
  const rodata: number[] = [];
  const funcsData = new Uint8Array(funcs.length * stride);
  const view = new DataView(funcsData.buffer);
  const relocs: { offset: bigint; type: number; symbol: string; addend: bigint }[] = [];
  funcs.forEach((f, i) => {
    const at = i * stride;
    const name = f.name === undefined ? (typeof f.old === "string" ? f.old : null) : f.name;
    if (name !== null) {
      relocs.push({
        offset: BigInt(at),
        type: R_X86_64["64"],
        symbol: ".rodata",
        addend: BigInt(rodata.length),
      });
      rodata.push(...new TextEncoder().encode(name), 0);
    }
    const replacement = f.replacement === undefined ? "xen_hello_world" : f.replacement;
    if (replacement !== null) {
      relocs.push({
        offset: BigInt(at + 8),
        type: R_X86_64["64"],
        symbol: replacement,
        addend: 0n,
      });
    }
    if (typeof f.old === "string") {
      relocs.push({ offset: BigInt(at + 16), type: R_X86_64["64"], symbol: f.old, addend: 0n });
    } else view.setBigUint64(at + 16, f.old, true);
    view.setUint32(
      at + 24,
      f.newSize ?? (replacement === null ? 0 : text[replacement]?.length ?? 0),
      true,
    );
    view.setUint32(at + 28, f.oldSize ?? 12, true);
    funcsData[at + 32] = f.version ?? (stride === 104 ? 2 : 1);
    if (f.expect !== undefined && stride === 104) {
      const e = f.expect;
      funcsData[at + 72] = (e.enabled ?? true ? 1 : 0) | (e.len << 1) | ((e.rsv ?? 0) << 6);
      funcsData.set(e.data, at + 73);
    }
  });

  const hookSections: SectionSpec[] = [];
  for (const [kind, targets] of Object.entries(options.hooks ?? {})) {
    const name = `.livepatch.hooks.${kind}`;
    hookSections.push({
      name,
      type: SHT.PROGBITS,
      flags: SHF.ALLOC,
      data: new Uint8Array(targets.length * 8),
      addralign: 8n,
    });
    targets.forEach((t, i) =>
      relocs.push({
        offset: BigInt(i * 8),
        type: R_X86_64["64"],
        symbol: `${name}:${t}`,
        addend: 0n,
      })
    );
  }

  // Undefined symbols for every referenced name not defined here.
  const sectionSymbols = [".text", ".rodata"];
  for (const s of sectionSymbols) symbols.push({ name: "", type: STT.SECTION, section: s });
  const referenced = new Set(relocs.map((r) => r.symbol.replace(/^.*:/, "")));
  for (const name of referenced) {
    if (!functionAt.has(name) && !sectionSymbols.includes(name)) {
      symbols.push({ name, bind: STB.GLOBAL });
    }
  }
  // Locals must precede globals (sh_info): sort by binding, keeping order.
  symbols.sort((a, b) => (a.bind ?? 0) - (b.bind ?? 0));
  const symbolIndex = (name: string) => {
    const i = sectionSymbols.includes(name)
      ? symbols.findIndex((s) => s.type === STT.SECTION && s.section === name)
      : symbols.findIndex((s) => s.name === name && s.type !== STT.FILE);
    if (i < 0) throw new TypeError(`craftPayload: no symbol ${name}`);
    return i + 1;
  };
  const relaFor = (target: string, filter: (r: typeof relocs[number]) => boolean, strip = "") => ({
    name: `.rela${target}`,
    type: SHT.RELA,
    flags: SHF.INFO_LINK,
    link: ".symtab",
    info: target,
    entsize: 24,
    addralign: 8n,
    data: encodeRelocations(
      relocs.filter(filter).map((r) => ({
        offset: r.offset,
        type: r.type,
        symbol: symbolIndex(r.symbol.slice(strip.length)),
        addend: r.addend,
      })),
      { rela: true },
    ),
  });

  const note = (hex: string) => encodeNote("GNU", 3, hexToBytes(hex));
  const id = options.buildId ?? "11".repeat(20);
  const sections: SectionSpec[] = [
    {
      name: ".text",
      type: SHT.PROGBITS,
      flags: SHF.ALLOC | SHF.EXECINSTR,
      data: Uint8Array.from(textBytes),
      addralign: 16n,
    },
    {
      name: ".rodata",
      type: SHT.PROGBITS,
      flags: SHF.ALLOC | SHF.MERGE | SHF.STRINGS,
      data: Uint8Array.from(rodata),
      addralign: 1n,
      entsize: 1,
    },
    {
      name: ".livepatch.funcs",
      type: SHT.PROGBITS,
      flags: SHF.ALLOC | SHF.WRITE,
      data: funcsData,
      addralign: 8n,
    },
    { name: ".note.gnu.build-id", type: SHT.NOTE, flags: SHF.ALLOC, data: note(id), addralign: 4n },
  ];
  if (options.depends !== null) {
    sections.push({
      name: ".livepatch.depends",
      type: SHT.PROGBITS,
      flags: SHF.ALLOC,
      data: note(options.depends ?? "22".repeat(20)),
      addralign: 4n,
    });
  }
  if (options.xenDepends !== null) {
    sections.push({
      name: ".livepatch.xen_depends",
      type: SHT.PROGBITS,
      flags: SHF.ALLOC,
      data: note(options.xenDepends ?? "22".repeat(20)),
      addralign: 4n,
    });
  }
  const modinfo = options.modinfo === undefined ? ["LIVEPATCH_RULEZ"] : options.modinfo;
  if (modinfo !== null) {
    sections.push({
      name: ".modinfo",
      type: SHT.PROGBITS,
      flags: SHF.ALLOC,
      data: new TextEncoder().encode(modinfo.map((m) => `${m}\0`).join("")),
      addralign: 1n,
    });
  }
  sections.push(...hookSections, ...(options.extraSections ?? []));
  sections.push(relaFor(".livepatch.funcs", (r) => !r.symbol.includes(":")));
  for (const h of hookSections) {
    sections.push(relaFor(h.name, (r) => r.symbol.startsWith(`${h.name}:`), `${h.name}:`));
  }
  return buildElf({ type: 1, sections, symbols });
}
