/**
 * Parsing the numbers users type: durations (`30ms`), clock rates (`2GHz`),
 * integers in decimal or hex (`0x10`, `-1`). Pure functions; each failure is
 * a `USAGE` {@linkcode CliError} naming the option.
 *
 * @module
 */
import { CliError } from "./errors.ts";

const DURATION_UNITS: Record<string, number> = {
  ns: 1,
  us: 1e3,
  "µs": 1e3,
  ms: 1e6,
  s: 1e9,
};

/**
 * A duration in nanoseconds: a number with a unit `ns`, `us`, `ms` or `s`
 * (a bare number is nanoseconds).
 *
 * @example
 * ```ts
 * import { parseDuration } from "@lpkit/cli";
 * import assert from "node:assert/strict";
 * assert.equal(parseDuration("30ms", "--timeout"), 30_000_000);
 * assert.equal(parseDuration("1.5s", "--timeout"), 1_500_000_000);
 * ```
 */
export function parseDuration(text: string, option: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(ns|us|µs|ms|s)?$/.exec(text.trim());
  const ns = m === null ? NaN : Math.round(Number(m[1]) * DURATION_UNITS[m[2] ?? "ns"]);
  if (!Number.isSafeInteger(ns) || ns < 0) {
    throw new CliError(
      "USAGE",
      `${option} takes a duration such as 30ms, 1s or 500us, not '${text}'`,
    );
  }
  return ns;
}

/**
 * Formats nanoseconds for people: `30 ms`, `1.25 s`, `800 ns`.
 *
 * @example
 * ```ts
 * import { formatDuration } from "@lpkit/cli";
 * import assert from "node:assert/strict";
 * assert.equal(formatDuration(30_000_000), "30 ms");
 * ```
 */
export function formatDuration(ns: number): string {
  const fmt = (v: number, unit: string) => `${Number(v.toPrecision(4))} ${unit}`;
  if (ns >= 1e9) return fmt(ns / 1e9, "s");
  if (ns >= 1e6) return fmt(ns / 1e6, "ms");
  if (ns >= 1e3) return fmt(ns / 1e3, "µs");
  return `${ns} ns`;
}

/**
 * A clock rate in Hz: a number with an optional `Hz`, `kHz`, `MHz` or `GHz`.
 *
 * @example
 * ```ts
 * import { parseFrequency } from "@lpkit/cli";
 * import assert from "node:assert/strict";
 * assert.equal(parseFrequency("2GHz", "--clock"), 2e9);
 * assert.equal(parseFrequency("100MHz", "--clock"), 1e8);
 * ```
 */
export function parseFrequency(text: string, option: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(hz|khz|mhz|ghz)?$/i.exec(text.trim());
  const scale: Record<string, number> = { hz: 1, khz: 1e3, mhz: 1e6, ghz: 1e9 };
  const hz = m === null ? NaN : Math.round(Number(m[1]) * scale[(m[2] ?? "hz").toLowerCase()]);
  if (!Number.isSafeInteger(hz) || hz < 1000) {
    throw new CliError(
      "USAGE",
      `${option} takes a clock rate such as 2GHz or 100MHz, not '${text}'`,
    );
  }
  return hz;
}

/**
 * An integer argument: decimal, `0x` hex, `0b` binary, optionally negative;
 * returned as a 64-bit two's-complement value (what a register holds).
 *
 * @example
 * ```ts
 * import { parseInteger } from "@lpkit/cli";
 * import assert from "node:assert/strict";
 * assert.equal(parseInteger("0x10", "argument"), 16n);
 * assert.equal(parseInteger("-1", "argument"), 0xffffffffffffffffn);
 * ```
 */
export function parseInteger(text: string, what: string): bigint {
  const m = /^(-)?(0x[0-9a-f]+|0b[01]+|\d+)$/i.exec(text.trim());
  if (m === null) {
    throw new CliError("USAGE", `${what} must be an integer (decimal or 0x hex), not '${text}'`);
  }
  const magnitude = BigInt(m[2]);
  const value = m[1] === "-" ? -magnitude : magnitude;
  if (value < -(1n << 63n) || value >= 1n << 64n) {
    throw new CliError("USAGE", `${what} does not fit in 64 bits: '${text}'`);
  }
  return BigInt.asUintN(64, value);
}

/**
 * A small positive integer option (counts, CPU numbers).
 *
 * @example
 * ```ts
 * import { parseCount } from "@lpkit/cli";
 * import assert from "node:assert/strict";
 * assert.equal(parseCount("4", "--cpus", 1, 64), 4);
 * ```
 */
export function parseCount(text: string, option: string, min: number, max: number): number {
  const n = /^\d+$/.test(text.trim()) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new CliError(
      "USAGE",
      `${option} takes a whole number from ${min} to ${max}, not '${text}'`,
    );
  }
  return n;
}
