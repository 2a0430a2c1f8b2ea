/**
 * UPLOAD: Xen 4.17.7's whole loading pipeline (reference §2.1), from file
 * bytes to a payload ready to apply. Pure: the host supplies memory, symbol
 * lookups and the list of loaded payloads through {@linkcode UploadContext}.
 *
 * @module
 */
import { SHF, SHN } from "@lpkit/elf";
import { attempt } from "./diagnostics.ts";
import { LivepatchError } from "./errno.ts";
import { type PayloadImage, placePayload } from "./placement.ts";
import {
  checkSpecialSections,
  type PrepareContext,
  type PreparedPayload,
  preparePayload,
} from "./prepare.ts";
import { performRelocations, resolveSymbols } from "./relocate.ts";
import { loadXenElf, type XenElf } from "./xen_elf.ts";
import { SECTION } from "./payload.ts";

/** What the loader needs from the host. */
export interface UploadContext extends PrepareContext {
  /** A fresh page-aligned area in the payload window, or undefined (-ENOMEM). */
  allocate(bytes: number): bigint | undefined;
  /** Whether `name` is taken: Xen's symbol table or a loaded payload's new symbol. */
  symbolExists(name: string): boolean;
}

/** A symbol of a loaded payload. */
export interface PayloadSymbol {
  readonly name: string;
  readonly address: bigint;
  readonly size: bigint;
  readonly type: number;
  /**
   * True for a new symbol (exported for later payloads' lookups); false for
   * an overriding one, whose address is some func's `new_addr`.
   */
  readonly isNew: boolean;
}

/** A payload that passed every upload check. */
export interface LoadedPayload extends PreparedPayload {
  /** The placed, relocated payload. */
  readonly image: PayloadImage;
  /** The payload's ALLOC sections, where they were placed. */
  readonly sections: readonly { name: string; address: bigint; size: number }[];
  /** Symbols kept by `build_symbol_table`. */
  readonly symbols: readonly PayloadSymbol[];
  /**
   * False when the payload has writable data besides `.livepatch.funcs`:
   * once reverted it cannot be applied again (reference §1.6, §4.5).
   */
  readonly safeToReapply: boolean;
}

/**
 * Loads a payload as Xen 4.17.7's `load_payload_data` does: ELF checks,
 * placement, symbol resolution, relocation, special sections, funcs, hooks,
 * notes, the hypervisor build-id, and the payload symbol table. Every
 * failure is a {@linkcode LivepatchError} with Xen's errno; on failure
 * nothing is kept (the caller frees the allocation it handed out).
 *
 * @example
 * ```ts
 * import { parseElf } from "@lpkit/elf";
 * import { profile, uploadPayload } from "@lpkit/livepatch-core";
 * import { readFileSync } from "node:fs";
 * import assert from "node:assert/strict";
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
 * const loaded = uploadPayload(readFileSync("examples/bin/hello.livepatch"), ctx);
 * assert.equal(loaded.funcs[0].oldAddr, ctx.lookup("xen_extra_version"));
 * ```
 */
export function uploadPayload(bytes: Uint8Array, ctx: UploadContext): LoadedPayload {
  const loaded = loadPayload(bytes, ctx);
  if (loaded === undefined) throw new Error("unreachable: strict mode throws");
  return loaded;
}

/**
 * {@linkcode uploadPayload} in either mode: strict (no `ctx.report`; the
 * first failure throws) or collecting (every failure is reported, checks go
 * on where they can, and the result is undefined when anything failed).
 *
 * @example
 * ```ts
 * import { parseElf } from "@lpkit/elf";
 * import { type LivepatchError, loadPayload, profile } from "@lpkit/livepatch-core";
 * import { readFileSync } from "node:fs";
 * import assert from "node:assert/strict";
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
 * const errors: LivepatchError[] = [];
 * const loaded = loadPayload(readFileSync("examples/bin/bad_version3.livepatch"), {
 *   ...ctx,
 *   report: (e) => errors.push(e),
 * });
 * assert.equal(loaded, undefined);
 * assert.equal(errors[0].code, "P3");
 * ```
 */
export function loadPayload(bytes: Uint8Array, ctx: UploadContext): LoadedPayload | undefined {
  const report = ctx.report;
  let failed = false;
  const sink = report === undefined ? undefined : (e: LivepatchError) => {
    failed = true;
    report(e);
  };
  let elf: XenElf | undefined;
  let image: PayloadImage | undefined;
  // Nothing can be checked past a broken header or placement.
  if (!attempt(sink, () => void (elf = loadXenElf(bytes)))) return undefined;
  if (!attempt(sink, () => void (image = placePayload(elf!, (n) => ctx.allocate(n))))) {
    return undefined;
  }
  return finishLoad(elf!, image!, { ...ctx, report: sink }, () => failed);
}

function finishLoad(
  elf: XenElf,
  image: PayloadImage,
  ctx: UploadContext,
  failed: () => boolean,
): LoadedPayload | undefined {
  resolveSymbols(elf, (name) => ctx.lookup(name), ctx.report);
  performRelocations(elf, image, ctx.profile, ctx.report);
  checkSpecialSections(elf, ctx.profile, ctx.report);
  const prepared = preparePayload(elf, image, ctx);
  const symbols = buildSymbolTable(elf, prepared, ctx);
  if (failed()) return undefined;
  return {
    ...prepared,
    image,
    sections: elf.sections.filter((s) => s.loadAddress !== undefined).map((s) => ({
      name: s.name,
      address: s.loadAddress!,
      size: Number(s.size),
    })),
    symbols,
    safeToReapply: safeToReapply(elf),
  };
}

/** `build_symbol_table` (reference §1.7, row T2). */
function buildSymbolTable(
  elf: XenElf,
  prepared: PreparedPayload,
  ctx: UploadContext,
): PayloadSymbol[] {
  const newAddrs = new Set(prepared.funcs.map((f) => f.newAddr));
  const out: PayloadSymbol[] = [];
  for (const sym of elf.symbols.slice(1)) {
    if (sym.shndx === SHN.UNDEF || sym.shndx >= elf.sections.length || sym.name === "") continue;
    const section = elf.sections[sym.shndx];
    if ((section.flags & SHF.ALLOC) === 0n) continue;
    if (sym.name.startsWith(".L") && (section.flags & SHF.MERGE) !== 0n) continue;
    const isNew = !newAddrs.has(sym.value);
    // Only Xen's table and other payloads count: 4.17 does not compare a payload with itself.
    if (isNew && ctx.symbolExists(sym.name)) {
      attempt(ctx.report, () => {
        throw new LivepatchError("EEXIST", "T2", `duplicate new symbol: ${sym.name}`, {
          symbol: sym.name,
          offset: sym.entryOffset,
        });
      });
      continue;
    }
    out.push({ name: sym.name, address: sym.value, size: sym.size, type: sym.type, isNew });
  }
  return out;
}

function safeToReapply(elf: XenElf): boolean {
  const writable = elf.sections.filter((s) =>
    s.index > 0 && (s.flags & SHF.ALLOC) !== 0n && (s.flags & SHF.WRITE) !== 0n && s.size !== 0n
  );
  return writable.length === 0 || (writable.length === 1 && writable[0].name === SECTION.funcs);
}
