// The committed examples still say what their sources and examples/manifest.json
// say, read with lpkit's own reader; and each payload meets its intended upload
// outcome against the minivisor image, through Xen 4.17's loading checks.
import assert from "node:assert/strict";
import { parseElf } from "@lpkit/elf";
import { describePayload } from "@lpkit/livepatch-core";
import { readRepoFile } from "./fixtures.ts";

interface ManifestFunc {
  name: string | null;
  oldSymbol: string | null;
  oldAddrInFile: "reloc" | "zero" | "abs";
  oldAddress: string | null;
  newSymbol: string | null;
  newSize: number;
  oldSize: number;
  version: number;
  expect: null | { len: number; data: string };
}
interface ManifestPayload {
  file: string;
  name: string;
  format: "v1" | "v2";
  buildId: string | null;
  depends: string | null;
  xenDepends: string | null;
  funcs: ManifestFunc[] | null;
  hooks: Record<string, string[]> | null;
  modinfo: string[] | null;
  intendedOutcome: "ok" | { stage: "upload" | "apply"; errno: string; check: string };
}
interface Manifest {
  image: {
    file: string;
    buildId: string;
    symbols: Record<string, { address: string; size: number; bytes?: string }>;
  };
  payloads: ManifestPayload[];
}

const manifest = JSON.parse(
  new TextDecoder().decode(readRepoFile("examples/manifest.json")),
) as Manifest;
const image = parseElf(readRepoFile(`examples/${manifest.image.file}`));
const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

/** A build-id reference in the manifest: "image", a payload's name, or hex. */
function resolveId(ref: string | null): string | null {
  if (ref === null || ref === "image") return ref === null ? null : manifest.image.buildId;
  return manifest.payloads.find((p) => p.name === ref)?.buildId ?? ref;
}

Deno.test("examples: the minivisor image matches the manifest", () => {
  assert.equal(image.buildId(), manifest.image.buildId);
  assert.equal(image.header.type, 2, "an executable");
  const index = image.symbolIndex();
  for (const [name, want] of Object.entries(manifest.image.symbols)) {
    const sym = index.byName(name);
    assert.ok(sym, `symbol ${name}`);
    assert.equal(sym.value, BigInt(want.address), `${name} address`);
    assert.equal(sym.size, BigInt(want.size), `${name} size`);
    if (want.bytes !== undefined) {
      const text = image.sectionByName(".text")!;
      const at = Number(sym.value - text.address);
      assert.equal(
        hex(image.sectionData(text).subarray(at, at + want.size)),
        want.bytes,
        `${name} bytes`,
      );
    }
  }
  // Two statics named init_one, told apart as Xen does.
  assert.ok(index.byName("common/sched.c#init_one"));
  assert.ok(index.byName("arch/x86/smp.c#init_one"));
  // Functions too small to patch, and functions starting with endbr64.
  assert.ok(index.byName("small_ret0")!.size < 5n);
  const endbr = index.byName("small_endbr_ret0")!;
  assert.ok(endbr.size >= 5n && endbr.size < 9n);
});

Deno.test("examples: every payload decodes to what the manifest says", async (t) => {
  for (const p of manifest.payloads) {
    if (p.name === "bad_truncated") continue; // not an ELF file any more; see the next test
    await t.step(p.name, () => {
      const d = describePayload(parseElf(readRepoFile(`examples/${p.file}`)));
      assert.equal(d.buildId ?? null, p.buildId, "build-id");
      assert.equal(d.depends ?? null, resolveId(p.depends), "depends");
      assert.equal(d.xenDepends ?? null, resolveId(p.xenDepends), "xen_depends");
      assert.deepEqual(d.modinfo ?? null, p.modinfo, "modinfo");
      if (p.funcs === null) {
        assert.equal(d.funcs.length, 0);
        return;
      }
      if (p.funcs.length > 0 && d.format !== "unknown") assert.equal(d.format, p.format);
      assert.equal(d.funcs.length, p.funcs.length, "funcs count");
      p.funcs.forEach((want, i) => {
        const f = d.funcs[i];
        assert.equal(f.version, want.version, `funcs[${i}] version`);
        assert.equal(f.oldSize, want.oldSize, `funcs[${i}] old_size`);
        assert.equal(f.newSize, want.newSize, `funcs[${i}] new_size`);
        assert.equal(f.nameString ?? null, want.name, `funcs[${i}] name`);
        assert.equal(f.newTarget?.symbol ?? null, want.newSymbol, `funcs[${i}] new_addr`);
        if (want.oldAddrInFile === "reloc") {
          assert.equal(f.oldTarget?.symbol, want.oldSymbol, `funcs[${i}] old_addr`);
        } else if (want.oldAddrInFile === "zero") {
          assert.equal(f.oldAddr, 0n);
          assert.equal(f.oldTarget, undefined);
        } else {
          assert.equal(f.oldAddr, BigInt(want.oldAddress!));
        }
        if (want.expect === null) {
          assert.ok(f.expect === undefined || !f.expect.enabled, `funcs[${i}] expectation off`);
        } else {
          assert.ok(f.expect?.enabled);
          assert.equal(f.expect.len, want.expect.len);
          assert.equal(hex(f.expect.data.subarray(0, want.expect.len)), want.expect.data);
        }
      });
      for (const [kind, targets] of Object.entries(p.hooks ?? {})) {
        const h = d.hooks.find((h) => h.kind === kind);
        assert.deepEqual(h?.targets.map((x) => x?.symbol), targets, `${kind} hooks`);
      }
    });
  }
});
