// Every lpkit command end to end, as a subprocess: help, human and JSON
// output, exit codes; signature enforcement; and Debian's real xen-syms.
import assert from "node:assert/strict";
import { copyFileSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { example, json, lpkit, minivisorHost, tempDir } from "./cli_run.ts";
import { ignoreWithoutXenSyms, repoPath, XEN_SYMS_BUILD_ID, xenSymsPath } from "./fixtures.ts";

const COMMANDS = [
  "upload",
  "list",
  "apply",
  "revert",
  "replace",
  "unload",
  "load",
  "host",
  "inspect",
  "sign",
  "verify",
  "extract",
  "check",
  "disasm",
  "call",
  "cpus",
];

Deno.test("every command has --help with an example", () => {
  const help = lpkit(["help"]);
  assert.equal(help.code, 0);
  for (const c of COMMANDS) {
    assert.match(help.stdout, new RegExp(`^  ${c}\\b`, "m"), `${c} in lpkit help`);
    const r = lpkit([c, "--help"]);
    assert.equal(r.code, 0, `${c} --help`);
    assert.match(r.stdout, /^Usage: lpkit /, c);
    assert.match(r.stdout, /Examples?:\n {2}lpkit /, `${c} --help has an example`);
    assert.equal(lpkit(["help", c]).stdout, r.stdout);
  }
  for (const sub of ["init", "status", "reset", "run"]) {
    assert.match(lpkit(["host", sub, "--help"]).stdout, /^Usage: lpkit host /);
  }
});

Deno.test("--version names lpkit's version and the runtime", () => {
  const r = lpkit(["--version"]);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^lpkit \d+\.\d+\.\d+ \((deno|node|bun) \d+\.\d+[^)]*\)\n$/);
});

Deno.test("usage errors are one line plus the usage, exit 1", () => {
  const r = lpkit(["call"]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^lpkit call: call needs a function\n\nUsage: lpkit call/);
  const bad = lpkit(["host", "init", "--example", "--cpus", "many"]);
  assert.equal(bad.code, 1);
  assert.equal(
    bad.stderr,
    "lpkit host init: --cpus takes a whole number from 1 to 64, not 'many'\n",
  );
});

Deno.test("host init, status and the call, cpus and disasm commands", async (t) => {
  const h = minivisorHost({ cpus: 4 });
  try {
    await t.step("host status", () => {
      const r = h.run(["host", "status"]);
      assert.equal(r.code, 0);
      assert.match(r.stdout, /^Image +bundled minivisor \(minivisor, build-id de19508c/m);
      assert.match(r.stdout, /^CPUs +4 at 2 GHz, intel$/m);
      const doc = json<{ schema: string; cpus: number; image: { type: string }; history: number }>(
        h.run(["host", "status", "--json"]),
      );
      assert.deepEqual([doc.schema, doc.cpus, doc.image.type, doc.history], [
        "lpkit.host/1",
        4,
        "minivisor",
        0,
      ]);
    });
    await t.step("the minivisor has at most 4 CPUs", () => {
      const t2 = tempDir();
      const r = lpkit(["host", "init", "--example", "--cpus", "5"], { state: join(t2.dir, "h") });
      t2.remove();
      assert.equal(r.code, 1);
      assert.match(r.stderr, /the minivisor is built for 4 CPUs; 5 were asked for/);
    });
    await t.step("call: the original, the patched and the reverted result", () => {
      assert.equal(h.run(["call", "xen_extra_version", "--string"]).stdout, "-minivisor\n");
      assert.equal(h.run(["call", "xen_major_version"]).stdout, "0x4 (4)\n");
      h.run(["load", example("hello.livepatch")]);
      assert.equal(h.run(["call", "xen_extra_version", "--string"]).stdout, "Hello World\n");
      const doc = json<
        { schema: string; string: string; symbol: string; cpu: number; kept: boolean }
      >(
        h.run(["call", "--json", "--cpu", "3", "xen_extra_version", "--string"]),
      );
      assert.deepEqual([doc.schema, doc.string, doc.cpu, doc.kept], [
        "lpkit.call/1",
        "Hello World",
        3,
        false,
      ]);
      assert.match(doc.symbol, /^xen_extra_version\+0x0\//);
    });
    await t.step("call: arguments, negative numbers, errors", () => {
      const r = h.run(["call", "--json", "xen_major_version", "-1", "0x10"]);
      assert.deepEqual(json(r).args, ["0xffffffffffffffff", "0x10"]);
      const none = h.run(["call", "no_such_function"]);
      assert.equal(none.code, 1);
      assert.match(
        none.stderr,
        /^lpkit call: no function named no_such_function .*\[-ENOENT 2, SYMBOL\]\n$/,
      );
      const budget = h.run(["call", "long_running_work", "100000000", "--budget", "1000"]);
      assert.equal(budget.code, 1);
      assert.match(
        budget.stderr,
        /did not return within 1000 instructions.*\(hint: raise --budget/,
      );
    });
    await t.step("call --image: a fresh host, no state folder", () => {
      const r = lpkit(["call", "--image", example("minivisor"), "xen_extra_version", "--string"]);
      assert.deepEqual([r.code, r.stdout], [0, "-minivisor\n"]);
      const bad = lpkit(["call", "--image", example("hello.livepatch"), "f"]);
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /not a hypervisor image/);
      // --string on a function that returns a number: an error, not a crash.
      const number = lpkit([
        "call",
        "--image",
        example("minivisor"),
        "xen_major_version",
        "--string",
      ]);
      assert.equal(number.code, 1);
      assert.equal(
        number.stderr,
        "lpkit call: no string at 0x4: Page fault: read of unmapped at 0x4 [-EFAULT 14, NOT_A_STRING]\n",
      );
    });
    await t.step("cpus", () => {
      const r = h.run(["cpus"]);
      assert.match(
        r.stdout,
        /^CPU0 {2}idle {5}idle_loop\+0x[0-9a-f]+\/0x78\n {8}<- startup_cpu_idle_loop/m,
      );
      assert.match(r.stdout, /^CPU3 {2}idle .*\n.*\n {8}<- start_secondary/m);
      const doc = json<{ schema: string; cpus: { activity: string; backtrace: string[] }[] }>(
        h.run(["cpus", "--json"]),
      );
      assert.equal(doc.schema, "lpkit.cpus/1");
      assert.equal(doc.cpus.length, 4);
      assert.match(doc.cpus[1].backtrace.at(-1)!, /^ap_start\+/);
    });
    await t.step("disasm annotates the trampoline and shows the replacement", () => {
      const r = h.run(["disasm", "xen_extra_version"]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(
        r.stdout,
        /live patch hello \(funcs\[0\]\) is applied: jmp to xen_hello_world\+0x0\/0x[0-9a-f]+ \[hello\] at \+0x4/,
      );
      assert.match(
        r.stdout,
        /endbr64\n.* e9 [0-9a-f ]+ +jmp +0x[0-9a-f]+ +# live patch hello: jump to xen_hello_world/,
      );
      assert.match(
        r.stdout,
        /^xen_hello_world\+0x0\/0x[0-9a-f]+ \[hello\]: \d+ bytes at 0x[0-9a-f]+ \(the replacement\)$/m,
      );
      const doc = json<
        {
          schema: string;
          blocks: { role: string; patch: { payload: string; original: string } | null }[];
        }
      >(
        h.run(["disasm", "--json", "xen_extra_version"]),
      );
      assert.equal(doc.schema, "lpkit.disasm/1");
      assert.deepEqual(doc.blocks.map((b) => b.role), ["requested", "replacement"]);
      assert.equal(doc.blocks[0].patch?.payload, "hello");
      assert.match(doc.blocks[0].patch!.original, /^48 8d 05/, "the lea the jump replaced");
      h.run(["revert", "hello"]);
      const plain = h.run(["disasm", "xen_extra_version", "--intel"]);
      assert.doesNotMatch(plain.stdout, /live patch/);
      assert.match(plain.stdout, /lea {5}rax,\[0x[0-9a-f]+\]/);
    });
  } finally {
    h.remove();
  }
});

Deno.test("check: every finding at once, exit 1 on errors", () => {
  const ok = lpkit(["check", "--example", example("hello.livepatch"), example("bye.livepatch")]);
  assert.equal(ok.code, 0, ok.stdout + ok.stderr);
  assert.match(ok.stdout, /^ {2}hello +loads and applies/m);
  assert.match(ok.stdout, /^ {2}bye +loads and applies/m, "rehearsed on top of hello");
  const bad = lpkit([
    "check",
    "--json",
    "--example",
    example("bad_version3.livepatch"),
    example("bad_undefined_symbol.livepatch"),
  ]);
  assert.equal(bad.code, 1);
  const doc = json<
    { schema: string; ok: boolean; findings: { payload: string; code: string; errno: string }[] }
  >(bad);
  assert.equal(doc.schema, "lpkit.check/1");
  assert.equal(doc.ok, false);
  const errors = doc.findings.filter((f) => f.code !== "FUNCS_WRITABLE").map((
    f,
  ) => [f.payload, f.code, f.errno]);
  assert.deepEqual(errors.slice(0, 2), [["bad_version3", "P3", "EOPNOTSUPP"], [
    "bad_undefined_symbol",
    "R2",
    "ENOENT",
  ]]);
});

Deno.test("signature enforcement: host init --enforce-signatures --trust", () => {
  const t = tempDir();
  try {
    const state = join(t.dir, "host");
    const keys = repoPath("packages/signer/testdata");
    const init = lpkit([
      "host",
      "init",
      "--example",
      "--enforce-signatures",
      "--trust",
      `${keys}/rsa2048.crt`,
    ], { state });
    assert.equal(init.code, 0, init.stderr);
    assert.match(init.stdout, /^Signatures +enforced \(trust: .*rsa2048\.crt\)$/m);
    const plain = join(t.dir, "hello.livepatch");
    copyFileSync(example("hello.livepatch"), plain);
    const refused = lpkit(["upload", "hello", plain], { state });
    assert.equal(refused.code, 1);
    assert.equal(refused.stdout, `Uploading ${plain}... failed\n`);
    assert.match(
      refused.stderr,
      /^Error 13: Permission denied\nlpkit: signature check failed: .*\[-EACCES 13, UNSIGNED\]/,
    );
    const signed = join(t.dir, "hello.signed.livepatch");
    const sign = lpkit([
      "sign",
      "--key",
      `${keys}/rsa2048.key`,
      "--cert",
      `${keys}/rsa2048.crt`,
      "-o",
      signed,
      plain,
    ]);
    assert.equal(sign.code, 0, sign.stderr);
    const ok = lpkit(["load", signed], { state });
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(
      lpkit(["call", "xen_extra_version", "--string"], { state }).stdout,
      "Hello World\n",
    );
    const other = join(t.dir, "other.livepatch");
    lpkit([
      "sign",
      "--key",
      `${keys}/other2048.key`,
      "--cert",
      `${keys}/other2048.crt`,
      "-o",
      other,
      example("nop.livepatch"),
    ]);
    const untrusted = lpkit(["upload", "nop", other], { state });
    assert.equal(untrusted.code, 1);
    assert.match(untrusted.stderr, /^Error 13: Permission denied\n.*UNTRUSTED\]/);
    // A malformed trailer is EBADMSG, as the signer maps it.
    const bytes = readFileSync(signed);
    bytes[bytes.length - 30] = 0xff; // sig_len's high byte: longer than the file
    const broken = join(t.dir, "broken.livepatch");
    writeFileSync(broken, bytes);
    const bad = lpkit(["upload", "broken", broken], { state });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^Error 74: Bad message\n.*\[-EBADMSG 74, BAD_SIG_LEN\]/);
    // A reset host still enforces (the signer is loaded on demand for every enforcing boot).
    assert.equal(lpkit(["host", "reset"], { state }).code, 0);
    assert.equal(lpkit(["upload", "hello", plain], { state }).code, 1);
    assert.equal(lpkit(["upload", "hello", signed], { state }).code, 0);
  } finally {
    t.remove();
  }
});

Deno.test({
  name: "Debian's xen-syms: init, load, call, disasm, cpus, check against the state's image",
  ignore: ignoreWithoutXenSyms,
  fn() {
    const t = tempDir();
    try {
      const state = join(t.dir, "xen");
      const init = lpkit(["host", "init", "--xen-syms", xenSymsPath, "--cpus", "4"], { state });
      assert.equal(init.code, 0, init.stderr);
      assert.match(init.stdout, new RegExp(`\\(xen, build-id ${XEN_SYMS_BUILD_ID}\\)`));
      const before = lpkit(["call", "xen_extra_version", "--string"], { state });
      assert.deepEqual([before.code, before.stdout], [0, ".7\n"]);
      const hello = repoPath("examples/xen/bin/xen_hello_world.livepatch");
      const load = lpkit(["load", hello], { state });
      assert.equal(load.code, 0, load.stderr);
      assert.equal(
        load.stdout,
        `Uploading ${hello}... completed\nApplying xen_hello_world... completed\n`,
      );
      assert.equal(
        lpkit(["call", "xen_extra_version", "--string"], { state }).stdout,
        "Hello World\n",
      );
      const list = lpkit(["list"], { state }).stdout;
      assert.match(list, /^xen_hello_world {25}\| APPLIED {4}\| LIVEPATCH_RULEZ$/m);
      const dis = lpkit(["disasm", "xen_extra_version"], { state });
      assert.match(dis.stdout, /live patch xen_hello_world \(funcs\[0\]\) is applied/);
      // A payload's own function by name; 64-bit immediates in full (iced-x86's decimal shortcut
      // would print this one as $0).
      const own = lpkit(["disasm", "xen_hello_world"], { state });
      assert.match(own.stdout, /^xen_hello_world\+0x0\/0x[0-9a-f]+ \[xen_hello_world\]: /);
      assert.match(own.stdout, /movabs +\$0xdead000000000000,%rdx/);
      assert.match(lpkit(["cpus"], { state }).stdout, /^CPU3 {2}idle {5}lpkit_idle_loop/m);
      const check = lpkit([
        "check",
        "--json",
        hello,
        repoPath("examples/xen/bin/xen_bye_world.livepatch"),
      ], {
        state,
      });
      assert.equal(check.code, 0, check.stdout);
      const doc = json<{ image: { buildId: string }; payloads: { applied: boolean }[] }>(check);
      assert.equal(doc.image.buildId, XEN_SYMS_BUILD_ID, "the state folder's image");
      assert.deepEqual(doc.payloads.map((p) => p.applied), [true, true]);
      const other = lpkit([
        "upload",
        "o",
        repoPath("examples/xen/bin/xen_hello_world_other_xen.livepatch"),
      ], { state });
      assert.equal(other.code, 1);
      assert.match(other.stderr, new RegExp(`hypervisor is ${XEN_SYMS_BUILD_ID}.*X2\\]`));
    } finally {
      t.remove();
    }
  },
});
