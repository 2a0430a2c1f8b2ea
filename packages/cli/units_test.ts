import assert from "node:assert/strict";
import { prng } from "../../tests/fixtures.ts";
import {
  CliError,
  formatDuration,
  parseCount,
  parseDuration,
  parseFrequency,
  parseInteger,
} from "./mod.ts";

const usage = (fn: () => unknown) =>
  assert.throws(fn, (e) => e instanceof CliError && e.code === "USAGE");

Deno.test("parseInteger() reads decimal, hex and binary, as 64-bit registers", async (t) => {
  await t.step("examples", () => {
    assert.equal(parseInteger("0", "a"), 0n);
    assert.equal(parseInteger("0xFFff82d040200000", "a"), 0xffff82d040200000n);
    assert.equal(parseInteger("0b101", "a"), 5n);
    assert.equal(parseInteger("-2", "a"), 0xfffffffffffffffen);
    assert.equal(parseInteger(" 42 ", "a"), 42n);
  });
  await t.step("rejects what is not an integer or does not fit", () => {
    for (
      const bad of [
        "",
        "x",
        "0x",
        "1.5",
        "--1",
        "0x1g",
        "18446744073709551616",
        "-9223372036854775809",
      ]
    ) {
      usage(() => parseInteger(bad, "a"));
    }
    assert.equal(parseInteger("18446744073709551615", "a"), 2n ** 64n - 1n);
    assert.equal(parseInteger("-9223372036854775808", "a"), 2n ** 63n);
  });
  await t.step(
    "property: every 64-bit value round-trips through decimal, hex and negative forms",
    () => {
      const next = prng(7);
      for (let i = 0; i < 2000; i++) {
        const v = BigInt(Math.floor(next() * 2 ** 32)) << 32n |
          BigInt(Math.floor(next() * 2 ** 32));
        assert.equal(parseInteger(v.toString(), "a"), v);
        assert.equal(parseInteger(`0x${v.toString(16)}`, "a"), v);
        const signed = BigInt.asIntN(64, v);
        assert.equal(parseInteger(signed.toString(), "a"), v);
      }
    },
  );
});

Deno.test("parseDuration() and formatDuration()", async (t) => {
  await t.step("units", () => {
    assert.equal(parseDuration("30ms", "--t"), 30_000_000);
    assert.equal(parseDuration("500us", "--t"), 500_000);
    assert.equal(parseDuration("500µs", "--t"), 500_000);
    assert.equal(parseDuration("2s", "--t"), 2e9);
    assert.equal(parseDuration("7", "--t"), 7);
    assert.equal(parseDuration("0", "--t"), 0);
    for (const bad of ["", "ms", "-1ms", "1h", "1e3", "1 2ms"]) {
      usage(() => parseDuration(bad, "--t"));
    }
  });
  await t.step("property: a formatted duration parses back within the 4 digits shown", () => {
    const next = prng(11);
    for (let i = 0; i < 2000; i++) {
      const ns = Math.floor(next() * 1e12);
      const text = formatDuration(ns).replace(" ", "").replace("µs", "us");
      const back = parseDuration(text, "--t");
      assert.ok(Math.abs(back - ns) <= Math.max(1, ns * 5e-4), `${ns} -> ${text} -> ${back}`);
    }
  });
});

Deno.test("parseFrequency() and parseCount()", () => {
  assert.equal(parseFrequency("2GHz", "--clock"), 2e9);
  assert.equal(parseFrequency("2.5 ghz", "--clock"), 2.5e9);
  assert.equal(parseFrequency("100MHz", "--clock"), 1e8);
  assert.equal(parseFrequency("5000", "--clock"), 5000);
  for (const bad of ["", "fast", "0Hz", "999", "1THz"]) usage(() => parseFrequency(bad, "--clock"));
  assert.equal(parseCount("4", "--cpus", 1, 64), 4);
  for (const bad of ["0", "65", "-1", "4.0", "four", ""]) {
    usage(() => parseCount(bad, "--cpus", 1, 64));
  }
});
