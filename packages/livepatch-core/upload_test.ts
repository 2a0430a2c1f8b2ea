// One crafted payload per row of the reference's check table (§2.2): each
// breaks exactly one rule and must fail with that row's errno and code.
import assert from "node:assert/strict";
import { parseElf, R_X86_64, SHF, SHT } from "@lpkit/elf";
import { type CraftOptions, craftPayload } from "../../tests/crafted.ts";
import {
  type ErrnoName,
  LivepatchError,
  profile,
  type UploadContext,
  uploadPayload,
} from "./mod.ts";

const XEN_ID = "22".repeat(20);
const TEXT = 0xffff82d040200000n;
const XEN_SYMBOLS = new Map<string, bigint>([
  ["xen_extra_version", TEXT + 0x34b20n],
  ["xen_minor_version", TEXT + 0x34b10n],
  ["endbr_function", TEXT + 0x1000n],
  ["printk", TEXT + 0x57a20n],
]);
// Code at those addresses: xen_extra_version is 12 bytes without ENDBR64;
// endbr_function starts with one.
const CODE = new Map<bigint, number[]>([
  [TEXT + 0x34b20n, [0x48, 0x8d, 0x05, 0x18, 0xba, 0x16, 0x00, 0xe9, 0xf4, 0xe5, 0xfc, 0xff]],
  [TEXT + 0x34b10n, [0xb8, 0x11, 0, 0, 0, 0xe9, 0, 0, 0, 0]],
  [TEXT + 0x1000n, [0xf3, 0x0f, 0x1e, 0xfa, 0x31, 0xc0, 0xe9, 0, 0, 0, 0]],
]);

function host(over: Partial<UploadContext> = {}): UploadContext {
  let next = 0xffff82d080000000n;
  return {
    profile: profile("xen-4.17"),
    xenBuildId: Uint8Array.from({ length: 20 }, () => 0x22),
    loadedBuildId: () => undefined,
    lookup: (name) => XEN_SYMBOLS.get(name),
    symbolExists: (name) => XEN_SYMBOLS.has(name),
    readMemory: (address, length) => {
      for (const [start, bytes] of CODE) {
        const at = Number(address - start);
        if (at >= 0 && at + length <= bytes.length) {
          return Uint8Array.from(bytes.slice(at, at + length));
        }
      }
      return undefined;
    },
    allocate: (bytes) => {
      const base = next;
      next += BigInt(Math.ceil(bytes / 4096) * 4096);
      return base;
    },
    ...over,
  };
}

const good = (o: CraftOptions = {}) => craftPayload({ xenDepends: XEN_ID, depends: XEN_ID, ...o });

function expectFailure(
  bytes: Uint8Array,
  errno: ErrnoName,
  code: string,
  ctx: UploadContext = host(),
  message?: RegExp,
): void {
  assert.throws(() => uploadPayload(bytes, ctx), (e: unknown) => {
    assert.ok(e instanceof LivepatchError, `expected LivepatchError, got ${e}`);
    assert.equal(`${e.errnoName}/${e.code}`, `${errno}/${code}`, e.message);
    if (message) assert.match(e.message, message);
    return true;
  });
}

/** A copy of `bytes` with a field changed; `at` may use the parsed file. */
function patched(
  bytes: Uint8Array,
  edit: (v: DataView, elf: ReturnType<typeof parseElf>, b: Uint8Array) => void,
): Uint8Array {
  const b = new Uint8Array(bytes);
  edit(new DataView(b.buffer), parseElf(bytes), b);
  return b;
}

const shdr = (elf: ReturnType<typeof parseElf>, name: string) =>
  elf.sectionByName(name)!.headerOffset;

Deno.test("uploadPayload() loads a well-formed payload", () => {
  const loaded = uploadPayload(good({ modinfo: ["LIVEPATCH_RULEZ"] }), host());
  assert.equal(loaded.funcs.length, 1);
  const [f] = loaded.funcs;
  assert.equal(f.name, "xen_extra_version");
  assert.equal(f.oldAddr, XEN_SYMBOLS.get("xen_extra_version"));
  assert.equal(f.newAddr, loaded.image.text.address, "the replacement is first in .text");
  assert.equal(loaded.buildId.hex, "11".repeat(20));
  assert.equal(loaded.depends?.hex, XEN_ID);
  assert.equal(new TextDecoder().decode(loaded.modinfo), "LIVEPATCH_RULEZ\0");
  assert.equal(loaded.safeToReapply, true, "only .livepatch.funcs is writable");
  assert.ok(loaded.symbols.some((s) => s.name === "xen_hello_world" && !s.isNew));
  // The relocated funcs entry in the image holds the final addresses.
  const funcs = loaded.sections.find((s) => s.name === ".livepatch.funcs")!;
  const v = new DataView(loaded.image.bytes.buffer);
  const at = Number(funcs.address - loaded.image.base);
  assert.equal(v.getBigUint64(at + 8, true), f.newAddr);
  assert.equal(v.getBigUint64(at + 16, true), f.oldAddr);
});

Deno.test("uploadPayload() fails each header check with Xen's errno", async (t) => {
  const p = good();
  await t.step("H1 shorter than a header", () => expectFailure(p.subarray(0, 63), "EINVAL", "H1"));
  await t.step(
    "H2 magic",
    () => expectFailure(patched(p, (_, __, b) => (b[0] = 0)), "EINVAL", "H2"),
  );
  await t.step(
    "H3 e_type EXEC",
    () => expectFailure(patched(p, (v) => v.setUint16(16, 2, true)), "EOPNOTSUPP", "H3"),
  );
  await t.step(
    "H3 OSABI 3",
    () => expectFailure(patched(p, (_, __, b) => (b[7] = 3)), "EOPNOTSUPP", "H3"),
  );
  await t.step(
    "H3 OSABI FreeBSD is fine",
    () => void uploadPayload(patched(p, (_, __, b) => (b[7] = 9)), host()),
  );
  await t.step(
    "H4 machine",
    () => expectFailure(patched(p, (v) => v.setUint16(18, 3, true)), "EOPNOTSUPP", "H4"),
  );
  await t.step(
    "H4 big endian",
    () => expectFailure(patched(p, (_, __, b) => (b[5] = 2)), "EOPNOTSUPP", "H4"),
  );
  await t.step(
    "H5 e_shstrndx 0",
    () => expectFailure(patched(p, (v) => v.setUint16(62, 0, true)), "EINVAL", "H5"),
  );
  await t.step(
    "H6 1024 sections",
    () => expectFailure(patched(p, (v) => v.setUint16(60, 1024, true)), "EOPNOTSUPP", "H6"),
  );
  await t.step(
    "H7 e_shstrndx past the end",
    () => expectFailure(patched(p, (v) => v.setUint16(62, 100, true)), "EINVAL", "H7"),
  );
  await t.step(
    "H8 e_shoff past the end",
    () =>
      expectFailure(patched(p, (v) => v.setBigUint64(40, BigInt(p.length), true)), "EINVAL", "H8"),
  );
  await t.step(
    "H9 e_shentsize 40",
    () => expectFailure(patched(p, (v) => v.setUint16(58, 40, true)), "EINVAL", "H9"),
  );
  await t.step(
    "H10 table runs past the end",
    () => expectFailure(patched(p, (v) => v.setUint16(60, 200, true)), "EINVAL", "H10"),
  );
});

Deno.test("uploadPayload() fails each section check with Xen's errno", async (t) => {
  const p = good();
  await t.step(
    "S1 offset before the header end",
    () =>
      expectFailure(
        patched(p, (v, elf) => v.setBigUint64(shdr(elf, ".text") + 24, 8n, true)),
        "EINVAL",
        "S1",
      ),
  );
  await t.step(
    "S1 data past the end",
    () =>
      expectFailure(
        patched(p, (v, elf) => v.setBigUint64(shdr(elf, ".text") + 32, 1n << 20n, true)),
        "EINVAL",
        "S1",
      ),
  );
  await t.step(
    "S2 alignment 3",
    () =>
      expectFailure(
        patched(p, (v, elf) => v.setBigUint64(shdr(elf, ".text") + 48, 3n, true)),
        "EOPNOTSUPP",
        "S2",
      ),
  );
  await t.step(
    "S3 misaligned address",
    () =>
      expectFailure(
        patched(p, (v, elf) => v.setBigUint64(shdr(elf, ".text") + 16, 4n, true)),
        "EINVAL",
        "S3",
      ),
  );
  await t.step("S4 .bss over 2 MiB", () =>
    expectFailure(
      good({
        extraSections: [{
          name: ".bss",
          type: SHT.NOBITS,
          flags: SHF.ALLOC | SHF.WRITE,
          size: 2 * 1024 * 1024 + 1,
        }],
      }),
      "EINVAL",
      "S4",
    ));
  await t.step(
    "S5 two symbol tables",
    () =>
      expectFailure(
        patched(p, (v, elf) => v.setUint32(shdr(elf, ".strtab") + 4, SHT.SYMTAB, true)),
        "EOPNOTSUPP",
        "S5",
      ),
  );
  await t.step(
    "S6 strtab link past the end",
    () =>
      expectFailure(
        patched(p, (v, elf) => v.setUint32(shdr(elf, ".symtab") + 40, 300, true)),
        "EINVAL",
        "S6",
      ),
  );
  await t.step(
    "S7 no symbol table",
    () =>
      expectFailure(
        patched(p, (v, elf) => v.setUint32(shdr(elf, ".symtab") + 4, SHT.PROGBITS, true)),
        "EINVAL",
        "S7",
      ),
  );
  await t.step(
    "S8 symtab entsize 16",
    () =>
      expectFailure(
        patched(p, (v, elf) => v.setBigUint64(shdr(elf, ".symtab") + 56, 16n, true)),
        "EINVAL",
        "S8",
      ),
  );
  await t.step(
    "S9 strtab not a string table",
    () =>
      expectFailure(
        patched(p, (v, elf) => v.setUint32(shdr(elf, ".strtab") + 4, SHT.PROGBITS, true)),
        "EINVAL",
        "S9",
      ),
  );
  await t.step(
    "S9 strtab link 0",
    () =>
      expectFailure(
        patched(p, (v, elf) => v.setUint32(shdr(elf, ".symtab") + 40, 0, true)),
        "EINVAL",
        "S9",
      ),
  );
  await t.step(
    "N1 shstrtab not a string table",
    () =>
      expectFailure(
        patched(p, (v, elf) => v.setUint32(shdr(elf, ".shstrtab") + 4, SHT.PROGBITS, true)),
        "EINVAL",
        "N1",
      ),
  );
  await t.step(
    "N2 name past the shstrtab",
    () =>
      expectFailure(
        patched(p, (v, elf) => v.setUint32(shdr(elf, ".text"), 0xffff, true)),
        "EINVAL",
        "N2",
      ),
  );
  await t.step("Y1 symbol name past the strtab", () =>
    expectFailure(
      patched(p, (v, elf) => v.setUint32(elf.sectionByName(".symtab")!.offset + 24, 0xffff, true)),
      "EINVAL",
      "Y1",
    ));
  await t.step("M1 writable and executable section", () =>
    expectFailure(
      good({
        extraSections: [{
          name: ".text.wx",
          type: SHT.PROGBITS,
          flags: SHF.ALLOC | SHF.WRITE | SHF.EXECINSTR,
          data: new Uint8Array(4),
        }],
      }),
      "EOPNOTSUPP",
      "M1",
      host(),
      /Not supporting \.text\.wx section/,
    ));
  await t.step(
    "M3 a section with sh_addralign 0 shrinks its region below an earlier one",
    () =>
      expectFailure(
        good({
          extraSections: [
            {
              name: ".text.big",
              type: SHT.PROGBITS,
              flags: SHF.ALLOC | SHF.EXECINSTR,
              data: new Uint8Array(20000),
              addralign: 8n,
            },
            {
              name: ".text.zero",
              type: SHT.PROGBITS,
              flags: SHF.ALLOC | SHF.EXECINSTR,
              data: new Uint8Array(4),
              addralign: 0n,
            },
          ],
        }),
        "EINVAL",
        "M3",
        host(),
        /\.text\.big ends at byte 20016 of a \d+-byte payload area: a later section with sh_addralign 0/,
      ),
  );
  await t.step(
    "M2 out of memory",
    () => expectFailure(p, "ENOMEM", "M2", host({ allocate: () => undefined })),
  );
});

Deno.test("uploadPayload() fails symbol and relocation checks with Xen's errno", async (t) => {
  const p = good();
  const symbolEntry = (elf: ReturnType<typeof parseElf>, name: string) => {
    const table = elf.sectionByName(".symtab")!;
    return table.offset + elf.symbols().find((s) => s.name === name)!.index * 24;
  };
  const relaEntry = (elf: ReturnType<typeof parseElf>, i: number) =>
    elf.sectionByName(".rela.livepatch.funcs")!.offset + i * 24;

  await t.step(
    "R1 common symbol",
    () =>
      expectFailure(
        patched(
          p,
          (v, elf) => v.setUint16(symbolEntry(elf, "xen_extra_version") + 6, 0xfff2, true),
        ),
        "EINVAL",
        "R1",
      ),
  );
  await t.step(
    "R2 unknown symbol",
    () =>
      expectFailure(
        good({ funcs: [{ old: "no_such_function" }] }),
        "ENOENT",
        "R2",
        host(),
        /Unknown symbol: no_such_function/,
      ),
  );
  await t.step(
    "R4 reserved section index",
    () =>
      expectFailure(
        patched(p, (v, elf) => v.setUint16(symbolEntry(elf, "xen_hello_world") + 6, 0xff10, true)),
        "EOPNOTSUPP",
        "R4",
      ),
  );
  await t.step(
    "R5 section index past the end",
    () =>
      expectFailure(
        patched(p, (v, elf) => v.setUint16(symbolEntry(elf, "xen_hello_world") + 6, 500, true)),
        "EINVAL",
        "R5",
      ),
  );
  await t.step(
    "L2 relocation linked to another table",
    () =>
      expectFailure(
        patched(p, (v, elf) => v.setUint32(shdr(elf, ".rela.livepatch.funcs") + 40, 1, true)),
        "EINVAL",
        "L2",
      ),
  );
  await t.step(
    "L3 relocation entsize 16",
    () =>
      expectFailure(
        patched(p, (v, elf) => v.setBigUint64(shdr(elf, ".rela.livepatch.funcs") + 56, 16n, true)),
        "EINVAL",
        "L3",
      ),
  );
  await t.step("L4 SHT_REL section", () =>
    expectFailure(
      patched(p, (v, elf) => {
        v.setUint32(shdr(elf, ".rela.livepatch.funcs") + 4, SHT.REL, true);
        v.setBigUint64(shdr(elf, ".rela.livepatch.funcs") + 56, 24n, true);
      }),
      "EOPNOTSUPP",
      "L4",
    ));
  await t.step(
    "L5 relocation against symbol 0",
    () =>
      expectFailure(
        patched(p, (v, elf) => v.setUint32(relaEntry(elf, 0) + 12, 0, true)),
        "EOPNOTSUPP",
        "L5",
      ),
  );
  await t.step(
    "L6 symbol index past the table",
    () =>
      expectFailure(
        patched(p, (v, elf) => v.setUint32(relaEntry(elf, 0) + 12, 999, true)),
        "EINVAL",
        "L6",
      ),
  );
  await t.step("L7 symbol of a non-ALLOC section", () =>
    expectFailure(
      patched(p, (v, elf) => v.setBigUint64(shdr(elf, ".rodata") + 8, 0n, true)),
      "EINVAL",
      "L7",
    ));
  await t.step(
    "L8 R_X86_64_32S",
    () =>
      expectFailure(
        patched(p, (v, elf) => v.setUint32(relaEntry(elf, 0) + 8, R_X86_64["32S"], true)),
        "EOPNOTSUPP",
        "L8",
      ),
  );
  await t.step(
    "L9 R_X86_64_64 past the section",
    () =>
      expectFailure(
        patched(p, (v, elf) => v.setBigUint64(relaEntry(elf, 0), 100n, true)),
        "EINVAL",
        "L9",
      ),
  );
  await t.step("L10 R_X86_64_PC32 past the section", () =>
    expectFailure(
      patched(p, (v, elf) => {
        v.setBigUint64(relaEntry(elf, 0), 102n, true);
        v.setUint32(relaEntry(elf, 0) + 8, R_X86_64.PC32, true);
      }),
      "EINVAL",
      "L10",
    ));
  await t.step("L11 R_X86_64_PC32 overflow", () =>
    expectFailure(
      patched(p, (v, elf) => v.setUint32(relaEntry(elf, 2) + 8, R_X86_64.PC32, true)),
      "EOVERFLOW",
      "L11",
      host({ allocate: () => 0xffff800000000000n }),
    ));
  await t.step("the extended profile applies R_X86_64_32S within range", () => {
    const ctx = host({ profile: profile("extended") });
    assert.throws(
      () =>
        uploadPayload(
          patched(p, (v, elf) => v.setUint32(relaEntry(elf, 0) + 8, R_X86_64["32S"], true)),
          ctx,
        ),
      (e: unknown) => e instanceof LivepatchError && e.code === "L11",
      "a high-half address does not fit 32S",
    );
  });
});

Deno.test("uploadPayload() fails the payload checks with Xen's errno", async (t) => {
  await t.step(
    "C1 no .livepatch.depends",
    () =>
      expectFailure(
        good({ depends: null }),
        "EINVAL",
        "C1",
        host(),
        /\.livepatch\.depends is missing/,
      ),
  );
  await t.step(
    "C1 no .livepatch.xen_depends",
    () => expectFailure(good({ xenDepends: null }), "EINVAL", "C1"),
  );
  await t.step(
    "C2 nothing to patch",
    () =>
      expectFailure(
        patched(good(), (v, elf) => v.setUint32(shdr(elf, ".livepatch.funcs"), 1, true)),
        "EINVAL",
        "C2",
        host(),
        /Nothing to patch/,
      ),
  );
  await t.step("C2 hooks-only payloads are fine", () => {
    const hooksOnly = patched(
      good({ hooks: { load: ["xen_hello_world"] } }),
      (v, elf) => v.setUint32(shdr(elf, ".livepatch.funcs"), 1, true),
    );
    assert.equal(uploadPayload(hooksOnly, host()).funcs.length, 0);
  });
  await t.step(
    "P1 funcs not a multiple of 104",
    () =>
      expectFailure(
        patched(good(), (v, elf) => v.setBigUint64(shdr(elf, ".livepatch.funcs") + 32, 100n, true)),
        "EINVAL",
        "P1",
      ),
  );
  await t.step(
    "P3 version 3",
    () =>
      expectFailure(
        good({ funcs: [{ old: "xen_extra_version", version: 3 }] }),
        "EOPNOTSUPP",
        "P3",
        host(),
        /Wrong version \(3\)/,
      ),
  );
  await t.step("P3 v1 entries on 4.17", () => expectFailure(good({ stride: 64 }), "EINVAL", "P1"));
  await t.step(
    "P3 old_size 0",
    () =>
      expectFailure(good({ funcs: [{ old: "xen_extra_version", oldSize: 0 }] }), "EINVAL", "P3"),
  );
  await t.step(
    "P3 name not found",
    () =>
      expectFailure(
        good({ funcs: [{ old: 0n, name: "nope" }] }),
        "ENOENT",
        "P3",
        host(),
        /Could not resolve old address of nope/,
      ),
  );
  await t.step("P3 name resolved", () => {
    const loaded = uploadPayload(good({ funcs: [{ old: 0n, name: "xen_extra_version" }] }), host());
    assert.equal(loaded.funcs[0].oldAddr, XEN_SYMBOLS.get("xen_extra_version"));
  });
  await t.step(
    "P3 NOP longer than 31",
    () =>
      expectFailure(
        good({
          funcs: [{ old: "xen_minor_version", replacement: null, newSize: 32, oldSize: 40 }],
        }),
        "EOPNOTSUPP",
        "P3",
      ),
  );
  await t.step(
    "P3 NOP longer than the function",
    () =>
      expectFailure(
        good({ funcs: [{ old: "xen_minor_version", replacement: null, newSize: 9, oldSize: 8 }] }),
        "EINVAL",
        "P3",
      ),
  );
  await t.step(
    "P3 too small for a jump",
    () =>
      expectFailure(
        good({ funcs: [{ old: "xen_extra_version", oldSize: 4 }] }),
        "EINVAL",
        "P3",
        host(),
        /5 bytes are needed/,
      ),
  );
  await t.step(
    "P3 too small after ENDBR64",
    () =>
      expectFailure(
        good({ funcs: [{ old: "endbr_function", oldSize: 8 }] }),
        "EINVAL",
        "P3",
        host(),
        /9 bytes are needed/,
      ),
  );
  await t.step(
    "P3 9 bytes after ENDBR64 are enough",
    () => void uploadPayload(good({ funcs: [{ old: "endbr_function", oldSize: 9 }] }), host()),
  );
  await t.step(
    "P3 more than 2 GiB away",
    () => expectFailure(good(), "EOVERFLOW", "P3", host({ allocate: () => 0xffff800000000000n })),
  );
  await t.step(
    "P4 single hook of 16 bytes",
    () =>
      expectFailure(
        good({ hooks: { preapply: ["xen_hello_world", "xen_hello_world"] } }),
        "EINVAL",
        "P4",
      ),
  );
  await t.step(
    "P5 build-id note of the wrong type",
    () =>
      expectFailure(
        patched(
          good(),
          (v, elf) => v.setUint32(elf.sectionByName(".note.gnu.build-id")!.offset + 8, 1, true),
        ),
        "EINVAL",
        "P5",
      ),
  );
  await t.step(
    "P6 a loaded payload has the same build-id",
    () =>
      expectFailure(
        good(),
        "EEXIST",
        "P6",
        host({
          loadedBuildId: (hex) => (hex === "11".repeat(20) ? "twin" : undefined),
        }),
        /Already loaded as twin/,
      ),
  );
  await t.step(
    "P7 depends note with namesz 2",
    () =>
      expectFailure(
        patched(
          good(),
          (v, elf) => v.setUint32(elf.sectionByName(".livepatch.depends")!.offset, 2, true),
        ),
        "EINVAL",
        "P7",
      ),
  );
  await t.step(
    "P8 .bug_frames.1 of 5 bytes",
    () =>
      expectFailure(
        good({
          extraSections: [{
            name: ".bug_frames.1",
            type: SHT.PROGBITS,
            flags: SHF.ALLOC,
            data: new Uint8Array(5),
          }],
        }),
        "EINVAL",
        "P8",
      ),
  );
  await t.step(
    "P9 .altinstructions of 13 bytes",
    () =>
      expectFailure(
        good({
          extraSections: [{
            name: ".altinstructions",
            type: SHT.PROGBITS,
            flags: SHF.ALLOC,
            data: new Uint8Array(13),
          }],
        }),
        "EINVAL",
        "P9",
      ),
  );
  await t.step(
    "P11 .ex_table of 5 bytes",
    () =>
      expectFailure(
        good({
          extraSections: [{
            name: ".ex_table",
            type: SHT.PROGBITS,
            flags: SHF.ALLOC,
            data: new Uint8Array(5),
          }],
        }),
        "EINVAL",
        "P11",
      ),
  );
  await t.step("P12 .modinfo without a final NUL", () =>
    expectFailure(
      good({
        modinfo: null,
        extraSections: [{
          name: ".modinfo",
          type: SHT.PROGBITS,
          flags: SHF.ALLOC,
          data: new TextEncoder().encode("a=b"),
        }],
      }),
      "EINVAL",
      "P12",
    ));
  await t.step(
    "X1 hypervisor without a build-id",
    () => expectFailure(good(), "ENODATA", "X1", host({ xenBuildId: undefined })),
  );
  await t.step(
    "X2 payload built for another hypervisor",
    () =>
      expectFailure(
        good({ xenDepends: "33".repeat(20) }),
        "EINVAL",
        "X2",
        host(),
        new RegExp(`needs ${"33".repeat(20)}, hypervisor is ${XEN_ID}`),
      ),
  );
  await t.step(
    "T2 a new symbol Xen already has",
    () =>
      expectFailure(
        good({ text: { xen_hello_world: [0xc3], printk: [0xc3] } }),
        "EEXIST",
        "T2",
        host(),
        /duplicate new symbol: printk/,
      ),
  );
});

Deno.test("uploadPayload() follows the seed's v1 format under the xen-4.7 profile", async (t) => {
  const ctx = host({ profile: profile("xen-4.7") });
  await t.step("a v1 payload without xen_depends loads", () => {
    const loaded = uploadPayload(good({ stride: 64, xenDepends: null }), ctx);
    assert.equal(loaded.funcs[0].version, 1);
    assert.equal(loaded.funcs[0].expect, undefined);
  });
  await t.step("a v2 payload is refused", () => expectFailure(good(), "EINVAL", "P1", ctx));
  await t.step(
    "NOP entries are refused",
    () =>
      expectFailure(
        good({
          stride: 64,
          xenDepends: null,
          funcs: [{ old: "xen_minor_version", replacement: null, newSize: 3 }],
        }),
        "EINVAL",
        "P3",
        ctx,
      ),
  );
  await t.step(
    ".livepatch.funcs is mandatory",
    () =>
      expectFailure(
        patched(
          good({ stride: 64 }),
          (v, elf) => v.setUint32(shdr(elf, ".livepatch.funcs"), 1, true),
        ),
        "EINVAL",
        "C1",
        ctx,
      ),
  );
});
