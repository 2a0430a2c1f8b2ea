/**
 * `lpkit inspect <payload> [--json]`: everything a payload file says.
 *
 * @module
 */
import {
  type ElfFile,
  fileTypeName,
  machineName,
  parseElf,
  sectionTypeName,
  SHF,
  SHT,
  x86RelocationName,
} from "@lpkit/elf";
import {
  describePayload,
  type PayloadDescription,
  type PointerTarget,
} from "@lpkit/livepatch-core";
import { extractSignature, hasSignatureMarker, parsePkcs7, SignatureError } from "@lpkit/signer";
import { type Command, parseCommandArgs, readInput, useColor } from "../command.ts";
import { CliError } from "../errors.ts";
import { hex, hexBytes, type Style, style, table, toJson } from "../format.ts";

/** Section flags as readelf's letters (W A X M S I L G T C). */
function sectionFlagLetters(flags: bigint): string {
  const letters: [bigint, string][] = [
    [SHF.WRITE, "W"],
    [SHF.ALLOC, "A"],
    [SHF.EXECINSTR, "X"],
    [SHF.MERGE, "M"],
    [SHF.STRINGS, "S"],
    [SHF.INFO_LINK, "I"],
    [SHF.LINK_ORDER, "L"],
    [SHF.GROUP, "G"],
    [SHF.TLS, "T"],
    [SHF.COMPRESSED, "C"],
  ];
  return letters.filter(([bit]) => (flags & bit) !== 0n).map(([, l]) => l).join("");
}

/** The `--json` document of `inspect` (schema `lpkit.inspect/1`, documented in the README). */
export interface InspectReport {
  schema: "lpkit.inspect/1";
  file: string;
  size: number;
  elf: { class: 32 | 64; endian: string; type: string; machine: string };
  buildId: string | null;
  depends: string | null;
  xenDepends: string | null;
  format: PayloadDescription["format"];
  funcs: {
    index: number;
    name: string | null;
    nameTarget: PointerTarget | null;
    newAddr: bigint;
    newTarget: PointerTarget | null;
    oldAddr: bigint;
    oldTarget: PointerTarget | null;
    newSize: number;
    oldSize: number;
    version: number;
    padZero: boolean;
    expect: { enabled: boolean; len: number; rsv: number; data: string } | null;
  }[];
  hooks: { kind: string; section: string; size: number; targets: (string | null)[] }[];
  modinfo: string[] | null;
  sections: {
    index: number;
    name: string;
    type: string;
    flags: string;
    address: bigint;
    offset: number;
    size: number;
    addralign: bigint;
    entsize: number;
  }[];
  relocations: {
    section: string;
    target: string;
    entries: { offset: bigint; type: string; symbol: string; addend: bigint }[];
  }[];
  problems: string[];
  /**
   * The appended signature, or null for an unsigned file (the rest of the
   * report describes the payload without it). Not verified: see `lpkit verify`.
   */
  signature: {
    format: "pkcs7" | "legacy" | "unknown";
    /** Bytes after the payload: signature, 12-byte header, marker. */
    trailerLength: number;
    /** Digest algorithm (PKCS#7), or null. */
    hash: string | null;
    /** `issuerAndSerialNumber` or `subjectKeyIdentifier` (PKCS#7), or null. */
    signerKind: string | null;
    /** The signer: issuer and serial, or the key id; the legacy signer name. */
    signer: string | null;
    /** Why the signature could not be read, or null. */
    problem: string | null;
  } | null;
}

function signatureOf(
  bytes: Uint8Array,
): { payload: Uint8Array; signature: InspectReport["signature"] } {
  if (!hasSignatureMarker(bytes)) return { payload: bytes, signature: null };
  const signature: NonNullable<InspectReport["signature"]> = {
    format: "unknown",
    trailerLength: 0,
    hash: null,
    signerKind: null,
    signer: null,
    problem: null,
  };
  let payload = bytes;
  try {
    const parts = extractSignature(bytes);
    payload = parts.payload;
    signature.format = parts.format;
    signature.trailerLength = parts.trailerLength;
    if (parts.format === "pkcs7") {
      const p7 = parsePkcs7(parts.signature, { allowSha1: true });
      signature.hash = p7.hash;
      signature.signerKind = p7.signer.kind;
      signature.signer = p7.signer.kind === "issuerAndSerialNumber"
        ? `${p7.signer.issuer}, serial ${p7.signer.serialHex}`
        : `key id ${p7.signer.keyIdHex}`;
    } else if (parts.format === "legacy") {
      signature.signer = new TextDecoder().decode(parts.signerName);
    }
  } catch (e) {
    if (!(e instanceof SignatureError)) throw e;
    signature.problem = `${e.message} [${e.code}]`;
  }
  return { payload, signature };
}

/**
 * Builds the inspect report of a payload file's bytes.
 *
 * @example
 * ```ts
 * import { inspectPayload } from "@lpkit/cli";
 * import { readFileSync } from "node:fs";
 * import assert from "node:assert/strict";
 * const report = inspectPayload("hello.livepatch", readFileSync("examples/bin/hello.livepatch"));
 * assert.equal(report.funcs[0].name, "xen_extra_version");
 * ```
 */
export function inspectPayload(file: string, input: Uint8Array): InspectReport {
  const { payload: bytes, signature } = signatureOf(input);
  const elf = parseElf(bytes);
  const payload = describePayload(elf);
  return {
    schema: "lpkit.inspect/1",
    file,
    size: input.length,
    elf: {
      class: elf.header.class,
      endian: elf.header.endian,
      type: fileTypeName(elf.header.type),
      machine: machineName(elf.header.machine),
    },
    buildId: payload.buildId ?? null,
    depends: payload.depends ?? null,
    xenDepends: payload.xenDepends ?? null,
    format: payload.format,
    funcs: payload.funcs.map((f) => ({
      index: f.index,
      name: f.nameString ?? f.oldTarget?.symbol ?? null,
      nameTarget: f.nameTarget ?? null,
      newAddr: f.newAddr,
      newTarget: f.newTarget ?? null,
      oldAddr: f.oldAddr,
      oldTarget: f.oldTarget ?? null,
      newSize: f.newSize,
      oldSize: f.oldSize,
      version: f.version,
      padZero: f.pad.every((b) => b === 0),
      expect: f.expect === undefined ? null : {
        enabled: f.expect.enabled,
        len: f.expect.len,
        rsv: f.expect.rsv,
        data: hexBytes(f.expect.data.subarray(0, f.expect.len)).replaceAll(" ", ""),
      },
    })),
    hooks: payload.hooks.map((h) => ({
      kind: h.kind,
      section: h.section,
      size: h.size,
      targets: h.targets.map((t) => t?.display ?? null),
    })),
    modinfo: payload.modinfo ?? null,
    sections: elf.sections.slice(1).map((s) => ({
      index: s.index,
      name: s.name,
      type: sectionTypeName(s.type),
      flags: sectionFlagLetters(s.flags),
      address: s.address,
      offset: s.offset,
      size: s.size,
      addralign: s.addralign,
      entsize: s.entsize,
    })),
    relocations: relocationTables(elf),
    problems: payload.problems,
    signature,
  };
}

function relocationTables(elf: ElfFile): InspectReport["relocations"] {
  return elf.sections.filter((s) => s.type === SHT.RELA || s.type === SHT.REL).map((s) => {
    const symtab = elf.sections[s.link];
    const symbols = symtab === undefined ? [] : elf.symbols(symtab);
    return {
      section: s.name,
      target: elf.sections[s.info]?.name ?? `#${s.info}`,
      entries: elf.relocations(s).map((r) => {
        const sym = symbols[r.symbolIndex];
        const name = sym === undefined
          ? `#${r.symbolIndex}`
          : sym.name !== ""
          ? sym.name
          : elf.sections[sym.sectionIndex]?.name ?? `#${r.symbolIndex}`;
        return {
          offset: r.offset,
          type: x86RelocationName(r.type),
          symbol: name,
          addend: r.addend,
        };
      }),
    };
  });
}

function pointer(raw: bigint, target: PointerTarget | null, note: string): string {
  if (target === null) return raw === 0n ? "0 (NULL)" : hex(raw);
  const where = target.kind === "undefined"
    ? "resolved by the host at upload"
    : target.kind === "absolute"
    ? "absolute"
    : "in the payload";
  return `${target.display}  (${target.relocation}, ${where}${note})`;
}

/**
 * Renders the report for a person.
 *
 * @example
 * ```ts
 * import { inspectPayload, renderInspect } from "@lpkit/cli";
 * import { readFileSync } from "node:fs";
 * import assert from "node:assert/strict";
 * const report = inspectPayload("hello.livepatch", readFileSync("examples/bin/hello.livepatch"));
 * const plain = (text: string) => text;
 * const text = renderInspect(report, { heading: plain, dim: plain, warn: plain });
 * assert.ok(text.startsWith("Payload hello.livepatch\n"));
 * assert.match(text, /funcs\[0\] xen_extra_version/);
 * ```
 */
export function renderInspect(r: InspectReport, s: Style): string {
  let out = `${s.heading("Payload")} ${r.file}\n`;
  out += table([
    [
      "file",
      `ELF${r.elf.class} ${r.elf.endian}-endian ${r.elf.type} ${r.elf.machine}, ${r.size} bytes`,
    ],
    ["build-id", r.buildId ?? "(none)"],
    ["depends", r.depends ?? "(none)"],
    ["xen_depends", r.xenDepends ?? "(none)"],
    [
      "funcs",
      r.format === "none"
        ? "no .livepatch.funcs section"
        : `${r.format} layout (${
          r.format === "v1" ? 64 : 104
        }-byte entries), ${r.funcs.length} entr${r.funcs.length === 1 ? "y" : "ies"}`,
    ],
  ]);

  for (const f of r.funcs) {
    out += `\n${s.heading(`funcs[${f.index}]`)} ${f.name ?? "(no name)"}\n`;
    const rows = [
      ["name", f.nameTarget === null ? "0 (NULL)" : `${f.nameTarget.display}  "${f.name ?? "?"}"`],
      ["new_addr", pointer(f.newAddr, f.newTarget, f.newTarget === null ? "" : "")],
      ["old_addr", pointer(f.oldAddr, f.oldTarget, "")],
      [
        "new_size",
        `${f.newSize}${
          f.newTarget === null && f.newAddr === 0n ? " (NOP mode: bytes to NOP)" : ""
        }`,
      ],
      ["old_size", String(f.oldSize)],
      ["version", String(f.version)],
      ["padding", f.padZero ? "all zero" : s.warn("NOT zero")],
    ];
    if (f.oldTarget === null && f.oldAddr === 0n) {
      rows[2][1] = `0 (resolved by name "${f.name ?? "?"}" at upload)`;
    }
    if (f.expect !== null) {
      rows.push([
        "expect",
        f.expect.enabled
          ? `enabled, ${f.expect.len} bytes: ${f.expect.data.match(/../g)?.join(" ") ?? ""}`
          : "disabled",
      ]);
      if (f.expect.rsv !== 0) rows.push(["", s.warn(`reserved bits set: ${f.expect.rsv}`)]);
    }
    out += table(rows);
  }

  if (r.hooks.length > 0) {
    out += `\n${s.heading("Hooks")}\n`;
    out += table(
      r.hooks.map((
        h,
      ) => [h.kind, h.section, h.targets.map((t) => t ?? "NULL").join(", ") || "(empty)"]),
    );
  }
  out += `\n${s.heading("Metadata")} (.modinfo)\n`;
  out += r.modinfo === null ? "  (none)\n" : r.modinfo.map((m) => `  ${m}\n`).join("");

  out += `\n${s.heading("Sections")}\n`;
  out += table([
    ["Nr", "Name", "Type", "Flags", "Size", "Align"],
    ...r.sections.map((x) => [
      String(x.index),
      x.name,
      x.type,
      x.flags,
      hex(x.size),
      String(x.addralign),
    ]),
  ]);
  for (const rel of r.relocations) {
    out += `\n${
      s.heading("Relocations")
    } ${rel.section} -> ${rel.target} (${rel.entries.length})\n`;
    out += table(rel.entries.map((e) => [
      hex(e.offset),
      e.type,
      e.addend === 0n
        ? e.symbol
        : `${e.symbol} ${e.addend < 0n ? "-" : "+"} ${hex(e.addend < 0n ? -e.addend : e.addend)}`,
    ]));
  }
  if (r.signature !== null) {
    const g = r.signature;
    out += `\n${s.heading("Signature")} (appended, not verified: see lpkit verify)\n`;
    out += table([
      [
        "format",
        `${g.format === "pkcs7" ? "PKCS#7 (sign-file)" : g.format}, ${g.trailerLength} bytes`,
      ],
      ...(g.hash === null ? [] : [["hash", g.hash]]),
      ...(g.signer === null ? [] : [["signer", g.signer]]),
      ...(g.problem === null ? [] : [["problem", s.warn(g.problem)]]),
    ]);
  }
  if (r.problems.length > 0) {
    out += `\n${s.warn("Problems")}\n` + r.problems.map((p) => `  ${p}\n`).join("");
  }
  return out;
}

/** `lpkit inspect`. */
export const inspectCommand: Command = {
  name: "inspect",
  usage: `Usage: lpkit inspect <payload> [--json]

Prints a payload's ELF identity, build-id, depends and xen_depends ids, each
.livepatch.funcs entry field by field (with the relocations that fill its
pointers), hooks, .modinfo metadata, sections and relocations, and an
appended signature's format and signer (not verified: see lpkit verify).

Options:
  --json   Print the report as JSON (schema lpkit.inspect/1)

Example:
  lpkit inspect examples/bin/hello.livepatch
`,
  run(args, io) {
    const { values, positionals } = parseCommandArgs(args, this.usage, {
      json: { type: "boolean" },
    });
    if (values.help) {
      io.stdout(this.usage);
      return 0;
    }
    if (positionals.length !== 1) {
      throw new CliError("USAGE", `inspect takes exactly one payload file\n\n${this.usage}`);
    }
    const file = positionals[0];
    const report = inspectPayload(file, readInput(io, file));
    io.stdout(values.json ? toJson(report) : renderInspect(report, style(useColor(io))));
    return 0;
  },
};
