/**
 * The offline verifier behind `lpkit check`: runs every check on a payload,
 * or a stack of payloads in order, against a hypervisor image, and returns
 * all findings at once with stable codes instead of stopping at the first.
 *
 * Three sources, in order for each payload: the upload pipeline in
 * collecting mode (Xen's checks and lpkit's, with Xen's check ids and
 * errnos), lints of the loaded payload (things Xen accepts but that hurt
 * production hosts), and a rehearsal: the payload applied on a simulated host
 * on top of the ones before it.
 *
 * @module
 */
import { parseElf, SHF } from "@lpkit/elf";
import { LivepatchClient } from "./client.ts";
import { HypervisorCrash } from "./cpus.ts";
import { LivepatchError, type Place } from "./errno.ts";
import { Host, type HostOptions, type HostPayload } from "./host.ts";
import type { HypervisorImage } from "./hypervisor.ts";
import { JMP_REL32_LENGTH } from "@lpkit/x86-emu";
import { SECTION } from "./payload.ts";

/** How bad a finding is: errors make `lpkit check` fail. */
export type Severity = "error" | "warning" | "info";

/** One finding. */
export interface Finding {
  /** The payload (by the name it was given). */
  readonly payload: string;
  /** Stable code: a reference check id (`H3`, `P3`, `X2`...) or an lpkit code (`DENY`, `OVERLAP`...). */
  readonly code: string;
  readonly severity: Severity;
  /** Where it was found: Xen's upload checks, lpkit's lints, or the apply rehearsal. */
  readonly stage: "upload" | "lint" | "apply";
  /** The errno Xen (or the simulated host) answers with, e.g. `EINVAL`. */
  readonly errno?: string;
  /** The one-line message. */
  readonly message: string;
  /** Offset, section, symbol, funcs entry. */
  readonly place: Place;
}

/** What {@linkcode checkPayloads} found. */
export interface CheckReport {
  /** The image checked against. */
  readonly image: { readonly kind: string; readonly buildId: string | undefined };
  /** Each payload: whether it loaded and whether it applied in the rehearsal. */
  readonly payloads: readonly { name: string; uploaded: boolean; applied: boolean }[];
  /** Every finding, in order. */
  readonly findings: readonly Finding[];
  /** True when no finding is an error. */
  readonly ok: boolean;
}

/** Options of {@linkcode checkPayloads}. */
export interface CheckOptions extends Pick<HostOptions, "profile" | "safety" | "cpuFeatures"> {
  /** Rehearse APPLY of each payload on a simulated host (default true). */
  readonly apply?: boolean;
  /** CPUs of the rehearsal host (default 2). */
  readonly cpus?: number;
}

function fromError(payload: string, stage: Finding["stage"], e: LivepatchError): Finding {
  return {
    payload,
    code: e.code,
    severity: "error",
    stage,
    errno: e.errnoName,
    message: e.detail,
    place: e.place,
  };
}

/**
 * Checks payloads against an image.
 *
 * @example
 * ```ts
 * import { checkPayloads } from "@lpkit/livepatch-core";
 * import { readFileSync } from "node:fs";
 * import assert from "node:assert/strict";
 * const report = checkPayloads(readFileSync("examples/bin/minivisor"), [
 *   { name: "hello", bytes: readFileSync("examples/bin/hello.livepatch") },
 *   { name: "bad", bytes: readFileSync("examples/bin/bad_version3.livepatch") },
 * ]);
 * assert.equal(report.ok, false);
 * assert.equal(report.findings.find((f) => f.severity === "error")?.code, "P3");
 * ```
 */
export function checkPayloads(
  image: Uint8Array | HypervisorImage,
  payloads: readonly { name: string; bytes: Uint8Array }[],
  options: CheckOptions = {},
): CheckReport {
  const hostOptions: HostOptions = {
    cpus: options.cpus ?? 2,
    profile: options.profile,
    safety: options.safety,
    cpuFeatures: options.cpuFeatures,
  };
  // Upload everything to one host, as an operator loads a set of payloads:
  // duplicate build-ids and new symbols between them show up here.
  const host = new Host(image, hostOptions);
  const findings: Finding[] = [];
  const results: { name: string; uploaded: boolean; applied: boolean }[] = [];
  for (const { name, bytes } of payloads) {
    const result = { name, uploaded: false, applied: false };
    results.push(result);
    findings.push(...fileLints(name, bytes));
    const { errors, warnings } = host.uploadChecked(name, bytes);
    // An unknown symbol (R2) also leaves old_addr unresolved (P3 -ENOENT): report it once.
    const unknown = new Set(errors.filter((e) => e.code === "R2").map((e) => e.place.symbol));
    for (const e of errors) {
      if (e.code === "P3" && e.errnoName === "ENOENT" && unknown.has(e.place.symbol)) continue;
      findings.push(fromError(name, "upload", e));
    }
    const loaded = host.payloads().find((p) => p.name === name);
    if (loaded === undefined) continue;
    result.uploaded = true;
    for (const w of warnings) {
      findings.push({
        payload: name,
        code: "RESERVED",
        severity: "warning",
        stage: "lint",
        message: w,
        place: {},
      });
    }
    findings.push(...payloadLints(host, loaded));
  }
  if (options.apply !== false) {
    findings.push(...rehearse(image, host, payloads, results, hostOptions));
  }
  return {
    image: { kind: host.image.kind, buildId: host.image.buildIdHex },
    payloads: results,
    findings,
    ok: findings.every((f) => f.severity !== "error"),
  };
}

/**
 * The apply rehearsal: each loaded payload is applied on a host where the
 * chain it depends on (earlier payloads, by build-id) is applied first. A
 * payload that depends on the hypervisor starts from an unpatched host.
 */
function rehearse(
  image: Uint8Array | HypervisorImage,
  loadedHost: Host,
  payloads: readonly { name: string; bytes: Uint8Array }[],
  results: { name: string; uploaded: boolean; applied: boolean }[],
  options: HostOptions,
): Finding[] {
  const findings: Finding[] = [];
  const byName = new Map(loadedHost.payloads().map((p) => [p.name, p]));
  const bytesOf = new Map(payloads.map((p) => [p.name, p.bytes]));
  const chainOf = (p: HostPayload): HostPayload[] => {
    const chain = [p];
    for (let cur = p; cur.payload.depends?.hex !== loadedHost.image.buildIdHex;) {
      const parent = [...byName.values()].find((q) =>
        q !== cur && q.payload.buildId.hex === cur.payload.depends?.hex && !chain.includes(q)
      );
      if (parent === undefined) break; // depends on something not given: APPLY will say so
      chain.unshift(parent);
      cur = parent;
    }
    return chain;
  };
  let host: Host | undefined;
  let lp: LivepatchClient | undefined;
  for (const result of results) {
    const p = byName.get(result.name);
    if (p === undefined) continue;
    const chain = chainOf(p).map((q) => q.name);
    const applied = host?.appliedStack() ?? [];
    const extends_ = host !== undefined && applied.length === chain.length - 1 &&
      applied.every((n, i) => n === chain[i]);
    try {
      if (!extends_) {
        host = new Host(image, options);
        lp = new LivepatchClient(host);
        for (const n of chain.slice(0, -1)) {
          lp.upload(n, bytesOf.get(n)!);
          lp.apply(n);
        }
      }
      lp!.upload(result.name, bytesOf.get(result.name)!);
      lp!.apply(result.name);
      result.applied = true;
    } catch (e) {
      host = undefined; // start afresh for the next payload
      if (e instanceof LivepatchError) findings.push(fromError(result.name, "apply", e));
      else if (e instanceof HypervisorCrash) {
        findings.push({
          payload: result.name,
          code: "CRASHED",
          severity: "error",
          stage: "apply",
          message: e.message,
          place: {},
        });
      } else throw e;
    }
  }
  return findings;
}

/** Lints that need only the file: duplicate section names, the funcs section's flags. */
function fileLints(name: string, bytes: Uint8Array): Finding[] {
  const out: Finding[] = [];
  let elf;
  try {
    elf = parseElf(bytes);
  } catch {
    return out; // the upload checks report what is wrong with the file
  }
  for (const dup of elf.duplicateSectionNames()) {
    out.push({
      payload: name,
      code: "DUPLICATE_SECTION",
      severity: "warning",
      stage: "lint",
      message: `section ${dup} appears more than once; Xen uses the first`,
      place: { section: dup },
    });
  }
  const funcs = elf.sectionsByName(SECTION.funcs)[0];
  if (funcs !== undefined && (funcs.flags & SHF.WRITE) !== 0n) {
    out.push({
      payload: name,
      code: "FUNCS_WRITABLE",
      severity: "info",
      stage: "lint",
      message: `${SECTION.funcs} is writable; Xen 4.19 and later make it read-only`,
      place: { section: SECTION.funcs },
    });
  }
  return out;
}

/** Lints of a loaded payload against the image and the payloads before it. */
function payloadLints(host: Host, p: HostPayload): Finding[] {
  const out: Finding[] = [];
  const add = (code: string, severity: Severity, message: string, place: Place) =>
    out.push({ payload: p.name, code, severity, stage: "lint", message, place });
  const symbols = host.image.symbols;
  const init = host.image.sections.find((s) => s.name === ".init.text");
  const inText = (a: bigint) =>
    host.machine.textRanges.some((r) =>
      a >= BigInt.asUintN(64, BigInt(r.start)) && a < BigInt.asUintN(64, BigInt(r.end))
    );
  const ranges: { start: bigint; end: bigint; index: number }[] = [];
  p.payload.funcs.forEach((f, i) => {
    const place = { func: i, symbol: f.name };
    const label = f.name ?? host.symbolize(f.oldAddr);
    if (
      init !== undefined && f.oldAddr >= init.address &&
      f.oldAddr < init.address + BigInt(init.size)
    ) {
      add("INIT_TEXT", "error", `${label} is in .init.text, which Xen frees after boot`, place);
    } else if (!inText(f.oldAddr)) {
      add(
        "NOT_TEXT",
        "error",
        `old_addr 0x${f.oldAddr.toString(16)} is not in any text: Xen 4.17 would fault writing it`,
        place,
      );
    }
    const at = symbols.lookup(f.oldAddr);
    if (at !== undefined && at.offset !== 0n) {
      add(
        "NOT_FUNCTION_START",
        "warning",
        `old_addr is ${symbols.format(f.oldAddr)}, not a function start`,
        place,
      );
    } else if (at !== undefined && at.size > 0n && at.size !== BigInt(f.oldSize)) {
      add(
        "OLD_SIZE",
        "warning",
        `old_size ${f.oldSize} differs from ${at.name}'s size ${at.size} in the image`,
        place,
      );
    }
    if (f.newAddr !== 0n) {
      const repl = p.payload.symbols.find((s) => s.address === f.newAddr && s.size > 0n);
      if (repl !== undefined && repl.size !== BigInt(f.newSize)) {
        add(
          "NEW_SIZE",
          "warning",
          `new_size ${f.newSize} differs from ${repl.name}'s size ${repl.size}`,
          place,
        );
      }
    }
    const length = f.newAddr !== 0n ? JMP_REL32_LENGTH + 4 : Math.max(f.newSize, 1);
    const range = {
      start: f.oldAddr,
      end: f.oldAddr + BigInt(Math.min(length, f.oldSize)),
      index: i,
    };
    const clash = ranges.find((r) => r.start < range.end && range.start < r.end);
    if (clash !== undefined) {
      add(
        "OVERLAP",
        "error",
        `funcs[${i}] and funcs[${clash.index}] patch the same bytes of ${label}: reverting them leaves a jump behind`,
        place,
      );
    }
    ranges.push(range);
    for (const other of host.payloads()) {
      if (other === p) continue;
      if (other.payload.funcs.some((g) => g.oldAddr === f.oldAddr)) {
        const stacked = p.payload.depends?.hex === other.payload.buildId.hex;
        add(
          "SAME_TARGET",
          stacked ? "info" : "warning",
          `${label} is also patched by ${other.name}` +
            (stacked
              ? " (this payload stacks on it)"
              : ": they must be applied and reverted in LIFO order"),
          place,
        );
      }
    }
  });
  if (!p.payload.safeToReapply) {
    add(
      "NOT_REAPPLIABLE",
      "info",
      "writable .data/.bss: once reverted it must be unloaded and uploaded again",
      {},
    );
  }
  return out;
}
