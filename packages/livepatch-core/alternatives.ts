/**
 * `apply_alternatives` on a payload at upload (reference §2.2 P9–P10):
 * each `.altinstructions` site gets its replacement when the CPU has the
 * feature (a `call`/`jmp rel32` replacement is re-aimed from its new place),
 * padded with ideal NOPs; otherwise only the padding after the original is
 * turned into NOPs. The CPU feature model is a predicate on Xen's feature
 * numbers (`X86_FEATURE_*`); bit 15 of an entry inverts the test.
 *
 * @module
 */
import { idealNops, type NopFlavor } from "./patch.ts";
import type { PayloadImage } from "./placement.ts";
import type { AltInstr } from "./prepare.ts";

/** `ALT_FLAG_NOT`: the replacement applies when the feature is absent. */
export const ALT_FLAG_NOT = 1 << 15;

/**
 * Patches the placed payload's bytes. Entries were bounds-checked by
 * `preparePayload` (P9/P10).
 *
 * @example
 * ```ts
 * import { applyAlternatives, type PayloadImage } from "@lpkit/livepatch-core";
 * import assert from "node:assert/strict";
 * const base = 0xffff82d040800000n;
 * const bytes = new Uint8Array(4096);
 * bytes.set([0xb8, 1, 0, 0, 0], 0); // the original: mov eax, 1
 * bytes.set([0x31, 0xc0], 16); // the replacement: xor eax, eax
 * const empty = { address: base + 4096n, size: 0 };
 * const image: PayloadImage = {
 *   base, bytes, text: { kind: "text", address: base, size: 4096 },
 *   rw: { kind: "rw", ...empty }, ro: { kind: "ro", ...empty },
 * };
 * const alt = { orig: base, repl: base + 16n, cpuid: 42, origLen: 5, replLen: 2, padLen: 0 };
 * applyAlternatives([alt], image, (feature) => feature === 42);
 * assert.deepEqual([...bytes.subarray(0, 5)], [0x31, 0xc0, 0x0f, 0x1f, 0x00]); // + a 3-byte NOP
 * ```
 */
export function applyAlternatives(
  alts: readonly AltInstr[],
  image: PayloadImage,
  hasFeature: (feature: number) => boolean,
  flavor: NopFlavor = "p6",
): void {
  const at = (a: bigint) => Number(a - image.base);
  for (const a of alts) {
    const feature = a.cpuid & ~ALT_FLAG_NOT;
    const want = ((a.cpuid & ALT_FLAG_NOT) !== 0) !== hasFeature(feature);
    const total = a.origLen + a.padLen;
    if (!want) {
      if (a.padLen > 1) image.bytes.set(idealNops(a.padLen, flavor), at(a.orig) + a.origLen);
      continue;
    }
    const buf = new Uint8Array(total);
    buf.set(image.bytes.subarray(at(a.repl), at(a.repl) + a.replLen));
    if (a.replLen === 5 && (buf[0] === 0xe8 || buf[0] === 0xe9)) {
      const v = new DataView(buf.buffer);
      v.setInt32(1, v.getInt32(1, true) + Number(a.repl - a.orig), true);
    }
    buf.set(idealNops(total - a.replLen, flavor), a.replLen);
    image.bytes.set(buf, at(a.orig));
  }
}
