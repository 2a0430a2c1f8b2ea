/**
 * Address representation.
 *
 * Guest linear addresses are held internally as JS numbers in *canonical signed form*: an x86-64
 * canonical address is a 48-bit value sign-extended to 64 bits, so it is exactly a signed integer in
 * [-2^47, 2^47), which a double represents exactly (Xen's 0xffff82d040200000 becomes
 * -0x7d2fbfe00000). Page numbers (`Math.floor(a / 4096)`) are then exact integers too. Public APIs
 * take and return `bigint` (unsigned 64-bit); {@linkcode toLinear} and {@linkcode fromLinear}
 * convert. Non-canonical addresses cannot be represented: using one raises #GP, as on hardware.
 *
 * @module
 */

import { CpuFault } from "./faults.ts";

const TWO32 = 4294967296;

/**
 * Convert an unsigned 64-bit address to the internal canonical number.
 *
 * @param address Unsigned 64-bit address (negative bigints are taken modulo 2^64).
 * @returns The canonical signed number.
 * @throws {CpuFault} `GP` when the address is not canonical.
 *
 * @example
 * ```ts
 * import { toLinear } from "@lpkit/x86-emu";
 * import assert from "node:assert/strict";
 * assert.equal(toLinear(0xffff82d040200000n), -0x7d2fbfe00000);
 * assert.equal(toLinear(0x1000n), 0x1000);
 * ```
 */
export function toLinear(address: bigint): number {
  const s = BigInt.asIntN(64, address);
  if (s < -0x800000000000n || s >= 0x800000000000n) {
    throw new CpuFault(
      "GP",
      `Non-canonical address 0x${BigInt.asUintN(64, address).toString(16)}`,
      {
        address: BigInt.asUintN(64, address),
      },
    );
  }
  return Number(s);
}

/**
 * Convert an internal canonical number back to an unsigned 64-bit bigint.
 *
 * @param linear Canonical signed address.
 * @returns The unsigned 64-bit address.
 *
 * @example
 * ```ts
 * import { fromLinear } from "@lpkit/x86-emu";
 * import assert from "node:assert/strict";
 * assert.equal(fromLinear(-0x7d2fbfe00000), 0xffff82d040200000n);
 * ```
 */
export function fromLinear(linear: number): bigint {
  return BigInt.asUintN(64, BigInt(linear));
}

/**
 * Canonical number from a 64-bit value given as two 32-bit halves (lo may carry above 2^32).
 * Returns NaN when not canonical, so hot paths can test cheaply.
 *
 * @example
 * ```ts
 * import { fromLinear, linearFromHalves } from "@lpkit/x86-emu";
 * import assert from "node:assert/strict";
 * assert.equal(fromLinear(linearFromHalves(0x40200000, 0xffff82d0)), 0xffff82d040200000n);
 * assert.ok(Number.isNaN(linearFromHalves(0, 0x00008000))); // in the non-canonical hole
 * ```
 */
export function linearFromHalves(lo: number, hi: number): number {
  const l = lo >>> 0;
  const h = (hi + (lo - l) / TWO32) >>> 0;
  if (h <= 0x7fff) return h * TWO32 + l;
  if (h >= 0xffff8000) return (h - TWO32) * TWO32 + l;
  return NaN;
}

/**
 * Format a canonical number as 0x-hex of its unsigned 64-bit value.
 *
 * @example
 * ```ts
 * import { hex, toLinear } from "@lpkit/x86-emu";
 * import assert from "node:assert/strict";
 * assert.equal(hex(toLinear(0xffff82d040200000n)), "0xffff82d040200000");
 * assert.equal(hex(-1n), "0xffffffffffffffff");
 * ```
 */
export function hex(a: number | bigint): string {
  const b = typeof a === "bigint" ? BigInt.asUintN(64, a) : fromLinear(a);
  return "0x" + b.toString(16);
}
