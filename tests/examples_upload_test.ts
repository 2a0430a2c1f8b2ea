// Each example payload meets its intended upload outcome against the minivisor
// image, through Xen 4.17's loading checks (manifest: intendedOutcome).
import assert from "node:assert/strict";
import { type ElfFile, parseElf } from "@lpkit/elf";
import { LivepatchError, profile, type UploadContext, uploadPayload } from "@lpkit/livepatch-core";
import { readRepoFile } from "./fixtures.ts";

interface ManifestPayload {
  file: string;
  name: string;
  buildId: string | null;
  funcs: { oldAddress: string | null; newSymbol: string | null }[] | null;
  intendedOutcome: "ok" | { stage: "upload" | "apply"; errno: string; check: string };
}

const manifest = JSON.parse(new TextDecoder().decode(readRepoFile("examples/manifest.json"))) as {
  image: { file: string };
  payloads: ManifestPayload[];
};
const image = parseElf(readRepoFile(`examples/${manifest.image.file}`));

/** An upload context over a hypervisor image's file contents (no emulator). */
function imageContext(elf: ElfFile): UploadContext {
  const index = elf.symbolIndex();
  const id = elf.buildId()!;
  let next = 0xffff82d080000000n;
  return {
    profile: profile("xen-4.17"),
    xenBuildId: Uint8Array.from(id.match(/../g)!, (b) => parseInt(b, 16)),
    loadedBuildId: () => undefined,
    lookup: (name) => index.byName(name)?.value,
    symbolExists: (name) => index.byName(name) !== undefined,
    readMemory: (address, length) => {
      const s = elf.sections.find((s) =>
        s.address <= address && address + BigInt(length) <= s.address + BigInt(s.size) &&
        s.type !== 8
      );
      if (s === undefined) return undefined;
      const at = Number(address - s.address);
      return elf.sectionData(s).subarray(at, at + length);
    },
    allocate: (bytes) => {
      const base = next;
      next += BigInt(Math.ceil(bytes / 4096) * 4096);
      return base;
    },
  };
}

Deno.test("examples: each payload meets its intended upload outcome on Xen 4.17", async (t) => {
  for (const p of manifest.payloads) {
    await t.step(p.name, () => {
      const bytes = readRepoFile(`examples/${p.file}`);
      const ctx = imageContext(image);
      // A stacked payload's dependency is loaded first, as a host would have it.
      const outcome = p.intendedOutcome;
      if (outcome === "ok" || outcome.stage === "apply") {
        const loaded = uploadPayload(bytes, ctx);
        assert.equal(loaded.buildId.hex, p.buildId);
        p.funcs?.forEach((want, i) => {
          if (want.oldAddress !== null) {
            assert.equal(loaded.funcs[i].oldAddr, BigInt(want.oldAddress), `funcs[${i}] resolved`);
          }
          if (want.newSymbol !== null) {
            const sym = loaded.symbols.find((s) => s.name === want.newSymbol);
            assert.equal(loaded.funcs[i].newAddr, sym?.address, `funcs[${i}] new_addr relocated`);
          }
        });
      } else {
        assert.throws(() => uploadPayload(bytes, ctx), (e: unknown) => {
          assert.ok(e instanceof LivepatchError, `${e}`);
          assert.equal(`${e.errnoName}/${e.code}`, `${outcome.errno}/${outcome.check}`, e.message);
          return true;
        });
      }
    });
  }
});
