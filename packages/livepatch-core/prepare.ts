/**
 * The payload checks after relocation: `check_special_sections`,
 * `check_patching_sections`, `prepare_payload` and `xen_build_id_dep`
 * (reference §1.2–§1.4, §2.4, check rows C1–C2, P1–P12, X1–X2).
 *
 * @module
 */
import { applyAlternatives } from "./alternatives.ts";
import { attempt, type Report } from "./diagnostics.ts";
import { type ErrnoName, LivepatchError } from "./errno.ts";
import {
  FUNC_FIELD,
  FUNC_V1,
  FUNC_V2,
  type FuncExpectation,
  LIVEPATCH_OPAQUE_SIZE,
} from "./funcs.ts";
import { HOOK_SECTIONS, type HookKind, SECTION } from "./payload.ts";
import type { PayloadImage } from "./placement.ts";
import type { Profile } from "./profile.ts";
import { patchOffset } from "@lpkit/x86-emu";
import { type XenElf, type XenSection, xenSectionByName } from "./xen_elf.ts";

/** A funcs entry after upload: addresses final, ready to patch. */
export interface PreparedFunc {
  readonly index: number;
  /** The symbol name (`name`), or undefined when the pointer is NULL. */
  readonly name: string | undefined;
  /** Address of the `struct livepatch_func` in the payload. */
  readonly entryAddress: bigint;
  readonly oldAddr: bigint;
  /** 0 in NOP mode. */
  readonly newAddr: bigint;
  readonly oldSize: number;
  readonly newSize: number;
  readonly version: number;
  /** v2 only. */
  readonly expect: FuncExpectation | undefined;
  /** Bytes 33..71 (v2) / 33..63 (v1) were not all zero. */
  readonly padNonZero: boolean;
}

/** Hook function addresses (NULL slots are kept as 0n: "hook disabled"). */
export type PreparedHooks = Partial<Record<HookKind, bigint[]>>;

/** Where a note section's id lies, parsed. */
export interface BuildIdNote {
  readonly bytes: Uint8Array;
  readonly hex: string;
}

/** What the checks need from the host. */
export interface PrepareContext {
  readonly profile: Profile;
  /** Xen's build-id, or undefined for a hypervisor built without one. */
  readonly xenBuildId: Uint8Array | undefined;
  /** Build-ids of the payloads already loaded, with their names. */
  /** The name of the loaded payload with this build-id (hex), if any (row P6). */
  loadedBuildId(hex: string): string | undefined;
  /** Name lookup: Xen's symbol table, then loaded payloads' new symbols. */
  lookup(name: string): bigint | undefined;
  /** Reads hypervisor memory (for ENDBR64 detection at `old_addr`); undefined if unmapped. */
  readMemory(address: bigint, length: number): Uint8Array | undefined;
  /** Collecting mode: failed checks are reported here and the checks go on. */
  readonly report?: Report;
  /** The CPU feature model for `.altinstructions` (default: no feature present). */
  readonly cpuHasFeature?: (feature: number) => boolean;
}

/** The result of the post-relocation checks. */
export interface PreparedPayload {
  readonly funcs: PreparedFunc[];
  readonly hooks: PreparedHooks;
  readonly buildId: BuildIdNote;
  readonly depends: BuildIdNote | undefined;
  readonly xenDepends: BuildIdNote | undefined;
  /** `.modinfo` bytes (NUL-separated strings), if any. */
  readonly modinfo: Uint8Array | undefined;
}

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

/** Reads `length` bytes of the payload at a placed address. */
function imageBytes(image: PayloadImage, address: bigint, length: number): Uint8Array {
  const at = Number(address - image.base);
  return image.bytes.subarray(at, at + length);
}

function placedData(image: PayloadImage, s: XenSection): Uint8Array {
  if (s.loadAddress === undefined) {
    // Xen reads special sections through their load address, NULL here.
    throw new LivepatchError(
      "EINVAL",
      "U1",
      `${s.name} is not SHF_ALLOC (Xen 4.17 would dereference NULL)`,
      { section: s.name },
    );
  }
  return imageBytes(image, s.loadAddress, Number(s.size));
}

/** C1 (and C2 for 4.14+ profiles): the mandatory and patching sections.
 *
 * @example
 * ```ts
 * import { checkSpecialSections, LivepatchError, loadXenElf, profile } from "@lpkit/livepatch-core";
 * import { readFileSync } from "node:fs";
 * import assert from "node:assert/strict";
 * const elf = loadXenElf(readFileSync("examples/bin/hello.livepatch"));
 * checkSpecialSections(elf, profile("xen-4.17")); // build-id, depends, xen_depends, funcs: all there
 * const errors: LivepatchError[] = [];
 * checkSpecialSections(elf, profile("xen-4.7"), (e) => errors.push(e));
 * assert.deepEqual(errors, []);
 * ```
 */
export function checkSpecialSections(elf: XenElf, profile: Profile, report?: Report): void {
  const mandatory: string[] = [SECTION.buildId, SECTION.depends];
  if (profile.xenDepends) mandatory.push(SECTION.xenDepends);
  if (!profile.funcsOptional) mandatory.unshift(SECTION.funcs);
  for (const name of mandatory) {
    attempt(report, () => {
      const s = xenSectionByName(elf, name);
      if (s === undefined) {
        throw new LivepatchError("EINVAL", "C1", `${name} is missing!`, { section: name });
      }
      if (s.size === 0n) {
        throw new LivepatchError("EINVAL", "C1", `${name} is empty!`, { section: name });
      }
    });
  }
  if (!profile.funcsOptional) return;
  const patching = [
    SECTION.funcs,
    ...(profile.hooks ? Object.values(HOOK_SECTIONS).map((h) => h.section) : []),
  ];
  let found = false;
  for (const name of patching) {
    const s = xenSectionByName(elf, name);
    if (s === undefined) continue;
    found = true;
    if (s.size === 0n) {
      attempt(report, () => {
        throw new LivepatchError("EINVAL", "C2", `${name} is empty!`, { section: name });
      });
    }
  }
  if (!found) {
    attempt(report, () => {
      throw new LivepatchError("EINVAL", "C2", "Nothing to patch. Aborting...");
    });
  }
}

/**
 * `xen_build_id_check` on a note section: returns the descriptor, or the
 * errno it would give (callers in livepatch map any failure to -EINVAL).
 *
 * @example
 * ```ts
 * import { parseBuildIdNote } from "@lpkit/livepatch-core";
 * import assert from "node:assert/strict";
 * const note = new Uint8Array([4, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 0x47, 0x4e, 0x55, 0, 0xab, 0xcd]);
 * assert.deepEqual([...(parseBuildIdNote(note) as Uint8Array)], [0xab, 0xcd]);
 * assert.equal(parseBuildIdNote(note.map((b, i) => (i === 8 ? 4 : b))), "ENODATA");
 * ```
 */
export function parseBuildIdNote(data: Uint8Array): Uint8Array | ErrnoName {
  const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const namesz = v.getUint32(0, true);
  const descsz = v.getUint32(4, true);
  const type = v.getUint32(8, true);
  if (type !== 3) return "ENODATA";
  if (namesz + descsz > 0xffffffff) return "EINVAL";
  if (namesz < 4) return "EINVAL";
  if (namesz + descsz > data.length - 12) return "EINVAL";
  // strncmp(name, "GNU", namesz): stops at the first NUL.
  const gnu = [0x47, 0x4e, 0x55, 0];
  for (let i = 0; i < namesz; i++) {
    if (data[12 + i] !== gnu[i]) return "ENODATA";
    if (gnu[i] === 0) break;
  }
  const at = 12 + Math.ceil(namesz / 4) * 4;
  return data.subarray(at, at + descsz);
}

function noteSection(
  elf: XenElf,
  image: PayloadImage,
  name: string,
  code: string,
): BuildIdNote | undefined {
  const s = xenSectionByName(elf, name);
  if (s === undefined) return undefined;
  const data = placedData(image, s);
  const place = { section: name };
  if (data.length <= 12) throw new LivepatchError("EINVAL", code, `${name} is too small!`, place);
  const id = parseBuildIdNote(data);
  if (typeof id === "string") {
    throw new LivepatchError(
      "EINVAL",
      code,
      `${name} is not a valid GNU build-id note (${id})`,
      place,
    );
  }
  if (id.length === 0) {
    throw new LivepatchError("EINVAL", code, `${name} has an empty build-id`, place);
  }
  return { bytes: id, hex: hex(id) };
}

/** Reads the NUL-terminated string at `address`, in the payload or in the hypervisor. */
function readName(image: PayloadImage, address: bigint, ctx: PrepareContext): string | undefined {
  const inImage = address >= image.base && address < image.base + BigInt(image.bytes.length);
  const bytes: number[] = [];
  for (let i = 0n; i < 4096n; i++) {
    const b = inImage
      ? image.bytes[Number(address + i - image.base)]
      : ctx.readMemory(address + i, 1)?.[0];
    if (b === undefined) return undefined;
    if (b === 0) return new TextDecoder().decode(Uint8Array.from(bytes));
    bytes.push(b);
  }
  return undefined;
}

function prepareFuncs(elf: XenElf, image: PayloadImage, ctx: PrepareContext): PreparedFunc[] {
  const s = xenSectionByName(elf, SECTION.funcs);
  if (s === undefined) return [];
  const profile = ctx.profile;
  const data = placedData(image, s);
  // The stride comes from the profile; "extended" takes it from entry 0's version byte.
  const layout = profile.funcVersions.length === 1
    ? (profile.funcVersions[0] === 1 ? FUNC_V1 : FUNC_V2)
    : (data[FUNC_FIELD.version] === 1 ? FUNC_V1 : FUNC_V2);
  if (data.length % layout.size !== 0) {
    throw new LivepatchError("EINVAL", "P1", `Wrong size of ${SECTION.funcs}!`, {
      section: s.name,
    });
  }
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const out: PreparedFunc[] = [];
  for (let i = 0; i < data.length / layout.size; i++) {
    attempt(ctx.report, () => {
      const at = i * layout.size;
      const place: { section: string; func: number; symbol?: string } = {
        section: s.name,
        func: i,
      };
      const fail = (errno: ErrnoName, detail: string): never => {
        throw new LivepatchError(errno, "P3", detail, place);
      };
      const namePtr = view.getBigUint64(at + FUNC_FIELD.name, true);
      const newAddr = view.getBigUint64(at + FUNC_FIELD.newAddr, true);
      let oldAddr = view.getBigUint64(at + FUNC_FIELD.oldAddr, true);
      const newSize = view.getUint32(at + FUNC_FIELD.newSize, true);
      const oldSize = view.getUint32(at + FUNC_FIELD.oldSize, true);
      const version = data[at + FUNC_FIELD.version];
      const name = namePtr === 0n ? undefined : readName(image, namePtr, ctx);
      if (name !== undefined) place.symbol = name;

      if (!profile.funcVersions.includes(version as 1 | 2)) {
        fail("EOPNOTSUPP", `Wrong version (${version}). Expected ${layout.version}`);
      }
      if (oldSize === 0) fail("EINVAL", "Address or size fields are zero");
      if (!profile.nopMode && (newAddr === 0n || newSize === 0)) {
        fail("EINVAL", "Address or size fields are zero");
      }
      if (oldAddr === 0n) {
        if (namePtr === 0n) {
          throw new LivepatchError(
            "EINVAL",
            "U2",
            "old_addr and name are both NULL (Xen 4.17 would dereference NULL)",
            place,
          );
        }
        const resolved = name === undefined || name === "" ? undefined : ctx.lookup(name);
        if (resolved === undefined) {
          fail("ENOENT", `Could not resolve old address of ${name ?? "?"}`);
        }
        oldAddr = resolved!;
        view.setBigUint64(at + FUNC_FIELD.oldAddr, oldAddr, true); // Xen fills it in
      }
      if (newAddr === 0n) {
        if (newSize > LIVEPATCH_OPAQUE_SIZE) {
          fail("EOPNOTSUPP", `NOP size ${newSize} is over ${LIVEPATCH_OPAQUE_SIZE}`);
        }
        if (oldSize < newSize) {
          fail("EINVAL", `NOP size ${newSize} is larger than old_size ${oldSize}`);
        }
      } else {
        let needed = 5;
        if (profile.endbrAware) {
          const head = ctx.readMemory(oldAddr, 4);
          if (head === undefined) {
            throw new LivepatchError(
              "EFAULT",
              "U3",
              `old_addr 0x${oldAddr.toString(16)} is not mapped (Xen 4.17 would fault reading it)`,
              place,
            );
          }
          needed += patchOffset(head); // 4 after an ENDBR64 or its poison
        }
        if (oldSize < needed) {
          fail("EINVAL", `old_size ${oldSize} is too small: ${needed} bytes are needed`);
        }
        if (profile.distanceCheck) {
          const offset = BigInt.asIntN(64, oldAddr - newAddr);
          if (offset < -(1n << 31n) || offset >= 1n << 31n) {
            fail(
              "EOVERFLOW",
              `new_addr 0x${newAddr.toString(16)} is more than 2 GiB from old_addr 0x${
                oldAddr.toString(16)
              }`,
            );
          }
        }
      }
      let expect: FuncExpectation | undefined;
      if (layout.version === 2) {
        const bits = data[at + FUNC_FIELD.expect];
        expect = {
          enabled: (bits & 1) === 1,
          len: (bits >> 1) & 0x1f,
          rsv: bits >> 6,
          data: data.slice(at + FUNC_FIELD.expect + 1, at + layout.size),
        };
      }
      const pad = data.subarray(
        at + FUNC_FIELD.pad,
        at + (layout.version === 2 ? FUNC_FIELD.expect : layout.size),
      );
      out.push({
        index: i,
        name,
        entryAddress: s.loadAddress! + BigInt(at),
        oldAddr,
        newAddr,
        oldSize,
        newSize,
        version,
        expect,
        padNonZero: pad.some((b) => b !== 0),
      });
    });
  }
  return out;
}

function prepareHooks(elf: XenElf, image: PayloadImage, report?: Report): PreparedHooks {
  const hooks: PreparedHooks = {};
  for (const [kind, { section, single }] of Object.entries(HOOK_SECTIONS)) {
    attempt(report, () => {
      const s = xenSectionByName(elf, section);
      if (s === undefined) return;
      if (s.size % 8n !== 0n || (single && s.size !== 8n)) {
        throw new LivepatchError("EINVAL", "P4", `Wrong size of ${section}!`, { section });
      }
      const data = placedData(image, s);
      const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
      hooks[kind as HookKind] = Array.from(
        { length: data.length / 8 },
        (_, i) => view.getBigUint64(i * 8, true),
      );
    });
  }
  return hooks;
}

/**
 * Runs the post-relocation checks in Xen 4.17.7's order and returns what the
 * host needs to apply the payload.
 *
 * @example
 * ```ts
 * import { parseElf } from "@lpkit/elf";
 * import {
 *   checkSpecialSections, loadXenElf, performRelocations, placePayload, preparePayload, profile, resolveSymbols,
 * } from "@lpkit/livepatch-core";
 * import { readFileSync } from "node:fs";
 * import assert from "node:assert/strict";
 * const elf = loadXenElf(readFileSync("examples/bin/hello.livepatch"));
 * const xen = readFileSync("examples/bin/minivisor");
 * const ctx = {
 *   profile: profile("xen-4.17"),
 *   xenBuildId: Uint8Array.from(parseElf(xen).buildId()!.match(/../g)!, (b) => parseInt(b, 16)),
 *   loadedBuildId: () => undefined,
 *   lookup: (name: string) => parseElf(xen).symbolIndex().byName(name)?.value,
 *   symbolExists: () => false,
 *   readMemory: () => new Uint8Array([0xf3, 0x0f, 0x1e, 0xfa]),
 *   allocate: () => 0xffff82d040800000n,
 * };
 * const image = placePayload(elf, ctx.allocate);
 * resolveSymbols(elf, ctx.lookup);
 * performRelocations(elf, image, ctx.profile);
 * checkSpecialSections(elf, ctx.profile);
 * const prepared = preparePayload(elf, image, ctx);
 * assert.equal(prepared.funcs[0].name, "xen_extra_version");
 * ```
 */
export function preparePayload(
  elf: XenElf,
  image: PayloadImage,
  ctx: PrepareContext,
): PreparedPayload {
  const profile = ctx.profile;
  const report = ctx.report;
  const funcs = prepareFuncs(elf, image, ctx);
  const hooks = profile.hooks ? prepareHooks(elf, image, report) : {};

  let buildId: BuildIdNote | undefined;
  attempt(report, () => {
    buildId = noteSection(elf, image, SECTION.buildId, "P5")!;
    const twin = ctx.loadedBuildId(buildId!.hex);
    if (twin !== undefined) {
      throw new LivepatchError("EEXIST", "P6", `Already loaded as ${twin}!`, {
        section: SECTION.buildId,
      });
    }
  });
  let depends: BuildIdNote | undefined;
  let xenDepends: BuildIdNote | undefined;
  attempt(report, () => void (depends = noteSection(elf, image, SECTION.depends, "P7")));
  if (profile.xenDepends) {
    attempt(report, () => void (xenDepends = noteSection(elf, image, SECTION.xenDepends, "P7")));
  }

  for (let n = 0; n < 4; n++) {
    const s = xenSectionByName(elf, `.bug_frames.${n}`);
    if (s !== undefined && s.size % 8n !== 0n) {
      attempt(report, () => {
        throw new LivepatchError("EINVAL", "P8", `Wrong size of .bug_frames.${n}!`, {
          section: s.name,
        });
      });
    }
  }
  attempt(report, () => {
    checkAlternatives(elf, image);
    applyAlternatives(readAlternatives(elf, image), image, ctx.cpuHasFeature ?? (() => false));
  });
  const exTable = xenSectionByName(elf, ".ex_table");
  if (exTable !== undefined && exTable.size % 8n !== 0n) {
    attempt(report, () => {
      throw new LivepatchError("EINVAL", "P11", "Wrong size of .ex_table!", {
        section: ".ex_table",
      });
    });
  }
  let modinfo: Uint8Array | undefined;
  const mod = profile.modinfo ? xenSectionByName(elf, SECTION.modinfo) : undefined;
  if (mod !== undefined) {
    attempt(report, () => {
      if (mod.size === 0n) {
        throw new LivepatchError(
          "EINVAL",
          "U4",
          ".modinfo is empty (Xen 4.17 would read before it)",
          { section: SECTION.modinfo },
        );
      }
      const data = placedData(image, mod);
      if (data[data.length - 1] !== 0) {
        throw new LivepatchError("EINVAL", "P12", ".modinfo is not NUL-terminated!", {
          section: SECTION.modinfo,
        });
      }
      modinfo = data;
    });
  }

  // X1–X2: xen_build_id_dep.
  if (profile.xenDepends) {
    attempt(report, () => {
      if (ctx.xenBuildId === undefined) {
        throw new LivepatchError("ENODATA", "X1", "The hypervisor has no build-id");
      }
      const want = hex(ctx.xenBuildId);
      if (xenDepends === undefined || xenDepends.hex !== want) {
        throw new LivepatchError(
          "EINVAL",
          "X2",
          `check against hypervisor build-id failed: payload needs ${
            xenDepends?.hex ?? "(none)"
          }, hypervisor is ${want}`,
          { section: SECTION.xenDepends },
        );
      }
    });
  }
  // In collecting mode a failed build-id note leaves an empty one behind.
  const id = buildId ?? { bytes: new Uint8Array(0), hex: "" };
  return { funcs, hooks, buildId: id, depends, xenDepends, modinfo };
}

/** Size of `struct alt_instr` (packed). */
export const ALT_INSTR_SIZE = 14;

/** One `.altinstructions` entry, with its addresses resolved. */
export interface AltInstr {
  /** The original instructions (in the payload's text). */
  readonly orig: bigint;
  /** The replacement (in `.altinstr_replacement`). */
  readonly repl: bigint;
  /** Xen feature number (`X86_FEATURE_*`); bit 15 inverts the test. */
  readonly cpuid: number;
  readonly origLen: number;
  readonly replLen: number;
  readonly padLen: number;
}

/** Reads `.altinstructions` from a placed payload (empty when absent).
 *
 * @example
 * ```ts
 * import { loadXenElf, placePayload, readAlternatives } from "@lpkit/livepatch-core";
 * import { readFileSync } from "node:fs";
 * import assert from "node:assert/strict";
 * const elf = loadXenElf(readFileSync("examples/bin/hello.livepatch"));
 * // hello has no .altinstructions (examples/xen/bin/xen_hello_world.livepatch has one).
 * assert.deepEqual(readAlternatives(elf, placePayload(elf, () => 0x100000n)), []);
 * ```
 */
export function readAlternatives(elf: XenElf, image: PayloadImage): AltInstr[] {
  const alt = xenSectionByName(elf, ".altinstructions");
  if (alt === undefined || alt.size === 0n || alt.loadAddress === undefined) return [];
  const data = placedData(image, alt);
  const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const out: AltInstr[] = [];
  for (let at = 0; at + ALT_INSTR_SIZE <= data.length; at += ALT_INSTR_SIZE) {
    const entry = alt.loadAddress + BigInt(at);
    out.push({
      orig: BigInt.asUintN(64, entry + BigInt(v.getInt32(at, true))),
      repl: BigInt.asUintN(64, entry + 4n + BigInt(v.getInt32(at + 4, true))),
      cpuid: v.getUint16(at + 8, true),
      origLen: data[at + 10],
      replLen: data[at + 11],
      padLen: data[at + 12],
    });
  }
  return out;
}

/**
 * P9: `.altinstructions` is a whole number of 14-byte entries, comes with
 * `.altinstr_replacement` and text, and every entry's original range lies in
 * the payload's text and its replacement in `.altinstr_replacement` (the
 * 4.18 bounds checks backported to 4.17.x). P10: entries that would make
 * `apply_alternatives` hit a BUG_ON (replacement longer than the site, over
 * 255 bytes) crash Xen 4.17; lpkit refuses them instead.
 */
function checkAlternatives(elf: XenElf, image: PayloadImage): void {
  const alt = xenSectionByName(elf, ".altinstructions");
  if (alt === undefined || alt.size === 0n) return;
  const place = { section: alt.name };
  if (alt.size % BigInt(ALT_INSTR_SIZE) !== 0n) {
    throw new LivepatchError("EINVAL", "P9", "Wrong size of .altinstructions!", place);
  }
  const repl = xenSectionByName(elf, ".altinstr_replacement");
  if (repl === undefined) {
    throw new LivepatchError(
      "EINVAL",
      "P9",
      ".altinstructions without .altinstr_replacement",
      place,
    );
  }
  if (image.text.size === 0) {
    throw new LivepatchError("EINVAL", "P9", ".altinstructions without any text", place);
  }
  const text = { start: image.text.address, end: image.text.address + BigInt(image.text.size) };
  const rs = repl.loadAddress ?? 0n;
  const re = rs + repl.size;
  readAlternatives(elf, image).forEach((a, i) => {
    const at = { ...place, offset: Number(alt.offset) + i * ALT_INSTR_SIZE };
    const total = a.origLen + a.padLen;
    if (a.orig < text.start || a.orig + BigInt(total) > text.end) {
      throw new LivepatchError(
        "EINVAL",
        "P9",
        `alternative ${i}: original range is outside text`,
        at,
      );
    }
    if (a.repl < rs || a.repl + BigInt(a.replLen) > re) {
      throw new LivepatchError(
        "EINVAL",
        "P9",
        `alternative ${i}: replacement is outside .altinstr_replacement`,
        at,
      );
    }
    if (a.replLen > total || total > 255) {
      throw new LivepatchError(
        "EINVAL",
        "P10",
        `alternative ${i}: replacement of ${a.replLen} bytes does not fit ${total} (Xen 4.17 hits BUG_ON)`,
        at,
      );
    }
  });
}
