// The offline verifier: every finding at once, with stable codes.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { craftPayload } from "../../tests/crafted.ts";
import { checkPayloads, type Finding } from "./mod.ts";

const example = (f: string) => readFileSync(new URL(`../../examples/bin/${f}`, import.meta.url));
const MINIVISOR = example("minivisor");
const ID = "de19508c82473d8adf966f140a9383c4c2ed650a";
const manifest = JSON.parse(
  new TextDecoder().decode(example("../manifest.json")),
) as {
  payloads: {
    name: string;
    file: string;
    intendedOutcome: "ok" | { errno: string; check: string };
  }[];
};

const errors = (fs: readonly Finding[]) => fs.filter((f) => f.severity === "error");

Deno.test("check: each example payload gets exactly its intended outcome", async (t) => {
  for (const p of manifest.payloads) {
    await t.step(p.name, () => {
      // A stacked payload is checked on top of what it depends on.
      const base = p.name === "bye" ? [{ name: "hello", bytes: example("hello.livepatch") }] : [];
      const file = { name: p.name, bytes: example(p.file.replace(/^bin\//, "")) };
      const report = checkPayloads(MINIVISOR, [...base, file]);
      const errs = errors(report.findings);
      if (p.intendedOutcome === "ok") {
        assert.deepEqual(errs, [], JSON.stringify(errs));
        assert.ok(report.payloads.every((r) => r.applied));
      } else {
        assert.ok(errs.length >= 1, `no error for ${p.name}`);
        // The manifest names APPLY's expectation step by its reference section (4.5c).
        const code = p.intendedOutcome.check === "4.5c" ? "EXPECT" : p.intendedOutcome.check;
        assert.equal(errs[0].code, code, JSON.stringify(errs));
        assert.equal(errs[0].errno, p.intendedOutcome.errno);
      }
    });
  }
});

Deno.test("check: reports every failure of a payload at once", () => {
  const bytes = craftPayload({
    depends: ID,
    xenDepends: "33".repeat(20), // X2
    text: { lp_a: [0xc3], lp_b: [0xc3], lp_c: [0xc3] },
    funcs: [
      { old: "xen_extra_version", name: "xen_extra_version", replacement: "lp_a", version: 7 }, // P3
      { old: "no_such_function_1", name: "no_such_function_1", replacement: "lp_b" }, // R2
      { old: "no_such_function_2", name: "no_such_function_2", replacement: "lp_c" }, // R2
      { old: "xen_major_version", name: "xen_major_version", replacement: "lp_a", oldSize: 0 }, // P3
    ],
  });
  const report = checkPayloads(MINIVISOR, [{ name: "many", bytes }]);
  const codes = errors(report.findings).map((f) =>
    `${f.code}:${f.errno}:${f.place.symbol ?? f.place.func ?? ""}`
  );
  assert.deepEqual(
    codes.sort(),
    [
      "P3:EINVAL:xen_major_version",
      "P3:EOPNOTSUPP:xen_extra_version",
      "R2:ENOENT:no_such_function_1",
      "R2:ENOENT:no_such_function_2",
      "X2:EINVAL:",
    ].sort(),
  );
  assert.equal(report.ok, false);
  assert.equal(report.payloads[0].uploaded, false);
});

Deno.test("check: lints what Xen accepts but production should not", async (t) => {
  await t.step("two funcs over the same bytes", () => {
    const bytes = craftPayload({
      depends: ID,
      xenDepends: ID,
      text: { lp_a: [0xc3], lp_b: [0xc3] },
      funcs: [
        { old: "xen_extra_version", name: "xen_extra_version", replacement: "lp_a", oldSize: 16 },
        { old: "xen_extra_version", name: "xen_extra_version", replacement: "lp_b", oldSize: 16 },
      ],
    });
    const report = checkPayloads(MINIVISOR, [{ name: "twice", bytes }]);
    assert.ok(report.findings.some((f) => f.code === "OVERLAP" && f.severity === "error"));
  });
  await t.step("old_size that disagrees with the image", () => {
    const bytes = craftPayload({
      depends: ID,
      xenDepends: ID,
      text: { lp_a: [0xc3] },
      funcs: [{
        old: "xen_extra_version",
        name: "xen_extra_version",
        replacement: "lp_a",
        oldSize: 12,
      }],
    });
    const report = checkPayloads(MINIVISOR, [{ name: "size", bytes }]);
    const f = report.findings.find((x) => x.code === "OLD_SIZE");
    assert.equal(f?.severity, "warning");
    assert.match(f!.message, /old_size 12 differs from xen_extra_version's size 16/);
    assert.equal(report.ok, true, "warnings do not fail the check");
  });
});

Deno.test("check: a stack is rehearsed in order, independent payloads each on a clean host", () => {
  const files = ["hello", "bye", "nop", "expect_fail"].map((n) => ({
    name: n,
    bytes: example(`${n}.livepatch`),
  }));
  const report = checkPayloads(MINIVISOR, files);
  assert.deepEqual(report.payloads.map((p) => p.applied), [true, true, true, false]);
  const errs = errors(report.findings);
  assert.equal(errs.length, 1);
  assert.equal(errs[0].payload, "expect_fail");
  assert.equal(errs[0].code, "EXPECT");
});

Deno.test("check: payloads loaded together clash on build-ids and new symbols", () => {
  const hello = example("hello.livepatch");
  const report = checkPayloads(MINIVISOR, [{ name: "a", bytes: hello }, {
    name: "b",
    bytes: hello,
  }]);
  const b = errors(report.findings).filter((f) => f.payload === "b").map((f) => f.code);
  assert.ok(b.includes("P6"), b.join(","));
});
