import assert from "node:assert/strict";
import { craftPayload } from "../../tests/crafted.ts";
import { readFileSync } from "node:fs";
import { parseCertificate, parsePrivateKey, signingCredentials, signPayload } from "@lpkit/signer";
import { memoryIo } from "./_testing.ts";
import { type InspectReport, main, progress } from "./mod.ts";

Deno.test("main() prints usage for help and no arguments", async () => {
  for (const args of [[], ["help"], ["--help"]]) {
    const { io, out } = memoryIo();
    assert.equal(await main(args, io), 0);
    assert.match(out.stdout, /Usage: lpkit <command>/);
  }
});

Deno.test("main() rejects an unknown command with one line and exit 1", async () => {
  const { io, out } = memoryIo();
  assert.equal(await main(["frobnicate"], io), 1);
  assert.equal(out.stderr, "lpkit: unknown command 'frobnicate' -- try 'lpkit help'\n");
});

Deno.test("inspect reports user errors as one line", async (t) => {
  await t.step("no file", async () => {
    const { io, out } = memoryIo();
    assert.equal(await main(["inspect"], io), 1);
    assert.match(out.stderr, /^lpkit inspect: inspect takes exactly one payload file/);
  });
  await t.step("unknown option", async () => {
    const { io, out } = memoryIo();
    assert.equal(await main(["inspect", "--frob", "x"], io), 1);
    assert.match(out.stderr, /Unknown option '--frob'/);
  });
  await t.step("missing file", async () => {
    const { io, out } = memoryIo();
    assert.equal(await main(["inspect", "nope.livepatch"], io), 1);
    assert.match(out.stderr, /^lpkit inspect: cannot read nope\.livepatch: .*\n$/);
  });
  await t.step("not an ELF file", async () => {
    const { io, out } = memoryIo({ "x": new TextEncoder().encode("#!/bin/sh\necho hi\n") });
    assert.equal(await main(["inspect", "x"], io), 1);
    assert.equal(out.stderr.split("\n").length, 2, "exactly one line");
    assert.match(out.stderr, /invalid ELF file: .*\[BAD_MAGIC\]/);
  });
  await t.step("truncated payload", async () => {
    const { io, out } = memoryIo({ "t": craftPayload().subarray(0, 200) });
    assert.equal(await main(["inspect", "t"], io), 1);
    assert.match(out.stderr, /\[TRUNCATED\]|\[BAD_TABLE\]/);
  });
});

Deno.test("inspect decodes a payload's funcs field by field", async (t) => {
  const payload = craftPayload({
    buildId: "ab".repeat(20),
    depends: "cd".repeat(20),
    xenDepends: "ef".repeat(20),
    funcs: [
      {
        old: "xen_extra_version",
        replacement: "xen_hello_world",
        oldSize: 12,
        expect: { len: 4, data: [0x48, 0x8d, 0x05, 0x18] },
      },
      { old: 0xffff82d040234b10n, name: null, replacement: null, newSize: 3, oldSize: 16 },
    ],
    hooks: { load: ["xen_hello_world"] },
    modinfo: ["LIVEPATCH_RULEZ", "author=lpkit"],
  });

  await t.step("as JSON", async () => {
    const { io, out } = memoryIo({ "p.livepatch": payload });
    assert.equal(await main(["inspect", "--json", "p.livepatch"], io), 0);
    const r = JSON.parse(out.stdout) as InspectReport;
    assert.equal(r.schema, "lpkit.inspect/1");
    assert.deepEqual([r.buildId, r.depends, r.xenDepends], [
      "ab".repeat(20),
      "cd".repeat(20),
      "ef".repeat(20),
    ]);
    assert.equal(r.format, "v2");
    assert.equal(r.funcs.length, 2);
    const [hello, nop] = r.funcs;
    assert.equal(hello.name, "xen_extra_version");
    assert.equal(hello.nameTarget?.display, ".rodata");
    assert.equal(hello.newTarget?.display, "xen_hello_world");
    assert.equal(hello.newTarget?.kind, "defined");
    assert.equal(hello.oldTarget?.kind, "undefined");
    assert.equal(hello.oldSize, 12);
    assert.deepEqual(hello.expect, { enabled: true, len: 4, rsv: 0, data: "488d0518" });
    assert.equal(nop.name, null);
    assert.equal(nop.newTarget, null);
    assert.equal(nop.oldAddr, "0xffff82d040234b10" as unknown as bigint, "bigints are hex strings");
    assert.equal(nop.newSize, 3);
    assert.deepEqual(r.hooks, [{
      kind: "load",
      section: ".livepatch.hooks.load",
      size: 8,
      targets: ["xen_hello_world"],
    }]);
    assert.deepEqual(r.modinfo, ["LIVEPATCH_RULEZ", "author=lpkit"]);
    assert.ok(r.sections.some((s) => s.name === ".livepatch.funcs" && s.flags === "WA"));
    assert.ok(r.relocations.some((x) => x.target === ".livepatch.funcs" && x.entries.length === 3));
    assert.deepEqual(r.problems, []);
  });

  await t.step("for a person", async () => {
    const { io, out } = memoryIo({ "p.livepatch": payload });
    assert.equal(await main(["inspect", "p.livepatch"], io), 0);
    assert.match(out.stdout, /build-id\s+abab/);
    assert.match(out.stdout, /funcs\[0\] xen_extra_version/);
    assert.match(
      out.stdout,
      /old_addr\s+xen_extra_version\s+\(R_X86_64_64, resolved by the host at upload\)/,
    );
    assert.match(out.stdout, /expect\s+enabled, 4 bytes: 48 8d 05 18/);
    assert.match(out.stdout, /new_size\s+3 \(NOP mode: bytes to NOP\)/);
    assert.match(out.stdout, /old_addr\s+0xffff82d040234b10/);
    assert.match(out.stdout, /LIVEPATCH_RULEZ/);
    assert.ok(!out.stdout.includes("\x1b["), "no colors off a terminal");
  });
});

Deno.test("inspect lists structural problems instead of failing", async () => {
  const odd = craftPayload({ funcs: [{ old: "f", version: 2 }, { old: "g", version: 1 }] });
  const { io, out } = memoryIo({ "odd": odd });
  assert.equal(await main(["inspect", "--json", "odd"], io), 0);
  const r = JSON.parse(out.stdout) as InspectReport;
  assert.deepEqual(r.problems, ["funcs[1] has version 1, unlike entry 0"]);
});

Deno.test("inspect reads the seed's v1 layout", async () => {
  const v1 = craftPayload({ stride: 64, xenDepends: null });
  const { io, out } = memoryIo({ "v1": v1 });
  assert.equal(await main(["inspect", "--json", "v1"], io), 0);
  const r = JSON.parse(out.stdout) as InspectReport;
  assert.equal(r.format, "v1");
  assert.equal(r.funcs[0].expect, null);
  assert.equal(r.xenDepends, null);
});

Deno.test("inspect shows an appended signature without verifying it", async (t) => {
  const dir = new URL("../signer/testdata/", import.meta.url);
  const creds = signingCredentials(
    parsePrivateKey(readFileSync(new URL("rsa2048.key", dir))),
    parseCertificate(readFileSync(new URL("rsa2048.crt", dir))),
  );
  const payload = craftPayload();
  const signed = signPayload(payload, creds);
  await t.step("signed: the trailer is described, the payload inspected without it", async () => {
    const { io, out } = memoryIo({ s: signed });
    assert.equal(await main(["inspect", "--json", "s"], io), 0);
    const r = JSON.parse(out.stdout) as InspectReport;
    assert.equal(r.size, signed.length);
    assert.equal(r.signature?.format, "pkcs7");
    assert.equal(r.signature?.trailerLength, signed.length - payload.length);
    assert.equal(r.signature?.hash, "sha256");
    assert.match(
      r.signature?.signer ?? "",
      /CN=lpkit test signing key \(RSA-2048\).*, serial [0-9a-f]+$/,
    );
    assert.equal(r.funcs[0].name, "xen_extra_version");
  });
  await t.step("unsigned: null", async () => {
    const { io, out } = memoryIo({ p: payload });
    await main(["inspect", "--json", "p"], io);
    assert.equal((JSON.parse(out.stdout) as InspectReport).signature, null);
  });
  await t.step("a damaged trailer is a problem, not a failure", async () => {
    const bad = signed.slice();
    bad[bad.length - 30] = 0xff; // sig_len's high byte
    const { io, out } = memoryIo({ b: bad });
    assert.equal(await main(["inspect", "b"], io), 0);
    assert.match(
      out.stdout,
      /Signature \(appended, not verified: see lpkit verify\)\n.*\n {2}problem +.*\[BAD_SIG_LEN\]/,
    );
  });
});

Deno.test("--version prints the package's version and the runtime", async () => {
  const pkg = JSON.parse(readFileSync(new URL("./deno.json", import.meta.url), "utf8"));
  for (const flag of ["--version", "-V", "version"]) {
    const { io, out } = memoryIo();
    assert.equal(await main([flag], io), 0);
    assert.match(
      out.stdout,
      new RegExp(`^lpkit ${pkg.version.replaceAll(".", "\\.")} \\(deno \\d`),
    );
  }
  const { io, out } = memoryIo();
  assert.equal(await main(["--version", "--json"], io), 0);
  assert.deepEqual(Object.keys(JSON.parse(out.stdout)), ["schema", "version", "runtime"]);
});

Deno.test("help --json lists every command", async () => {
  const { io, out } = memoryIo();
  assert.equal(await main(["help", "--json"], io), 0);
  const doc = JSON.parse(out.stdout) as { schema: string; commands: { name: string }[] };
  assert.equal(doc.schema, "lpkit.help/1");
  assert.ok(
    ["upload", "list", "host", "call", "check", "inspect"].every((n) =>
      doc.commands.some((c) => c.name === n)
    ),
  );
});

Deno.test("progress() draws on a terminal only, after a quarter second, and erases itself", () => {
  let now = 0;
  let err = "";
  const p = progress({ stderr: (s) => void (err += s), stderrIsTerminal: true, now: () => now });
  p.update("early");
  assert.equal(err, "", "nothing in the first 250 ms");
  now = 300;
  p.update("replaying 1/2");
  now = 350;
  p.update("too soon");
  now = 500;
  p.update("replaying 2/2");
  p.done();
  assert.equal(err, "\r\x1b[2K⠋ replaying 1/2\r\x1b[2K⠙ replaying 2/2\r\x1b[2K");
  let quiet = "";
  const off = progress({
    stderr: (s) => void (quiet += s),
    stderrIsTerminal: false,
    now: () => (now += 1000),
  });
  off.update("x");
  off.done();
  assert.equal(quiet, "");
});
