/**
 * CPU model: vendor, CPUID leaves and default MSR values.
 *
 * @module
 */

import { DecoderOptions } from "iced-x86";

/** CPU vendor. */
export type Vendor = "intel" | "amd";

/** CPUID result registers. */
export interface CpuidResult {
  /** EAX. */
  eax: number;
  /** EBX. */
  ebx: number;
  /** ECX. */
  ecx: number;
  /** EDX. */
  edx: number;
}

/** Options of {@linkcode CpuModel}. */
export interface CpuModelOptions {
  /** Vendor (default `"intel"`); also selects iced-x86's `DecoderOptions.AMD`. */
  vendor?: Vendor;
  /** Extra or replacement leaves, keyed `"leaf"` or `"leaf:subleaf"` (hex or decimal). */
  leaves?: Record<string, CpuidResult>;
  /** Seed of `rdrand`/`rdseed`. */
  seed?: number;
}

function vendorWords(s: string): [number, number, number] {
  const w = (k: number) =>
    s.charCodeAt(k) | (s.charCodeAt(k + 1) << 8) | (s.charCodeAt(k + 2) << 16) |
    (s.charCodeAt(k + 3) << 24);
  return [w(0) >>> 0, w(4) >>> 0, w(8) >>> 0]; // ebx, edx, ecx
}

/**
 * A CPU model answering `cpuid` (configurable vendor) and choosing decoder options.
 *
 * @example
 * ```ts
 * import { CpuModel } from "@lpkit/x86-emu";
 * import assert from "node:assert/strict";
 * const m = new CpuModel({ vendor: "amd" });
 * const r = m.cpuid(0, 0);
 * assert.equal(r.ebx, 0x68747541); // "Auth"
 * ```
 */
export class CpuModel {
  /** Vendor. */
  readonly vendor: Vendor;
  /** iced-x86 decoder options for this model. */
  readonly decoderOptions: number;
  readonly #leaves: Record<string, CpuidResult>;
  /** Seed for rdrand. */
  readonly seed: number;

  /**
   * A model of the given vendor.
   *
   * @param options Vendor and leaf overrides.
   */
  constructor(options: CpuModelOptions = {}) {
    this.vendor = options.vendor ?? "intel";
    this.decoderOptions = this.vendor === "amd" ? DecoderOptions.AMD : DecoderOptions.None;
    this.seed = options.seed ?? 1;
    const [b, d, c] = vendorWords(this.vendor === "amd" ? "AuthenticAMD" : "GenuineIntel");
    // Leaf 1 features: FPU TSC MSR CX8 CMOV CLFSH MMX FXSR SSE SSE2 / SSE3 SSSE3 CX16 SSE4.1
    // SSE4.2 POPCNT XSAVE RDRAND. Leaf 7: FSGSBASE BMI1 BMI2 ERMS; no CET so Xen keeps endbr64 nops.
    const base: Record<string, CpuidResult> = {
      "0": { eax: 0xd, ebx: b, ecx: c, edx: d },
      "1": {
        eax: this.vendor === "amd" ? 0x00a00f11 : 0x000906ea,
        ebx: 0x00010800,
        ecx: 0x40982201 | (1 << 23) | (1 << 26) | (1 << 30),
        edx: 0x0789b9bf | (1 << 25) | (1 << 26),
      },
      "7:0": { eax: 0, ebx: (1 << 0) | (1 << 3) | (1 << 8) | (1 << 9), ecx: 0, edx: 0 },
      "0x80000000": { eax: 0x80000008, ebx: b, ecx: c, edx: d },
      "0x80000001": {
        eax: 0,
        ebx: 0,
        ecx: (1 << 0) | (1 << 5),
        edx: (1 << 11) | (1 << 20) | (1 << 29),
      },
      "0x80000008": { eax: 0x3030, ebx: 0, ecx: 0, edx: 0 },
    };
    this.#leaves = {};
    for (const [k, v] of Object.entries(base)) this.#leaves[normKey(k)] = v;
    for (const [k, v] of Object.entries(options.leaves ?? {})) this.#leaves[normKey(k)] = v;
  }

  /**
   * CPUID for `leaf`/`subleaf` (unknown leaves read as zeros, as above the maximum leaf).
   *
   * @param leaf EAX input.
   * @param subleaf ECX input.
   */
  cpuid(leaf: number, subleaf: number): CpuidResult {
    const r = this.#leaves[`${leaf >>> 0}:${subleaf >>> 0}`] ?? this.#leaves[`${leaf >>> 0}`];
    return r ? { ...r } : { eax: 0, ebx: 0, ecx: 0, edx: 0 };
  }
}

function normKey(k: string): string {
  const [l, s] = k.split(":");
  const n = (x: string) => String(Number(x) >>> 0);
  return s === undefined ? n(l!) : `${n(l!)}:${n(s)}`;
}

/** Well-known MSR numbers. */
export const MSR_TSC = 0x10;
/** IA32_FS_BASE. */
export const MSR_FS_BASE = 0xc0000100;
/** IA32_GS_BASE. */
export const MSR_GS_BASE = 0xc0000101;
/** IA32_KERNEL_GS_BASE. */
export const MSR_KERNEL_GS_BASE = 0xc0000102;
/** IA32_TSC_AUX. */
export const MSR_TSC_AUX = 0xc0000103;
/** IA32_EFER. */
export const MSR_EFER = 0xc0000080;
