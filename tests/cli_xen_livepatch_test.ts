// `lpkit` as xen-livepatch, end to end: the tool's transcripts byte for byte
// (reference xen-4.17.md §6, peers.md §1.1), exit codes 0/1/2, and the JSON
// documents of the same commands.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { example, json, minivisorHost } from "./cli_run.ts";

const HEADER = " ID                                     | status     | metadata\n" +
  "----------------------------------------+------------+---------------\n";
const row = (name: string, status: string, meta: string) =>
  `${name.padEnd(40)}| ${status}    | ${meta}\n`;

Deno.test("xen-livepatch transcripts: upload, list, apply, revert, unload", async (t) => {
  const h = minivisorHost();
  const hello = example("hello.livepatch");
  try {
    await t.step("an empty host has nothing to list", () => {
      const r = h.run(["list"]);
      assert.deepEqual([r.code, r.stdout, r.stderr], [0, "Nothing to list\n", ""]);
    });
    await t.step("upload", () => {
      const r = h.run(["upload", "hello", hello]);
      assert.deepEqual([r.code, r.stdout, r.stderr], [0, `Uploading ${hello}... completed\n`, ""]);
    });
    await t.step("list: 40-column ID, status, metadata", () => {
      const r = h.run(["list"]);
      assert.equal(r.stdout, HEADER + row("hello", "CHECKED", "LIVEPATCH_RULEZ"));
    });
    await t.step("apply", () => {
      const r = h.run(["apply", "hello"]);
      assert.deepEqual([r.code, r.stdout, r.stderr], [0, "Applying hello... completed\n", ""]);
      assert.equal(h.run(["list"]).stdout, HEADER + row("hello", "APPLIED", "LIVEPATCH_RULEZ"));
    });
    await t.step("apply again: No action needed.", () => {
      const r = h.run(["apply", "hello"]);
      assert.deepEqual([r.code, r.stdout, r.stderr], [0, "No action needed.\n", ""]);
    });
    await t.step("unload while applied: wrong state", () => {
      const r = h.run(["unload", "hello"]);
      assert.equal(r.code, 1);
      assert.equal(r.stdout, "");
      assert.equal(
        r.stderr,
        "hello is in the wrong state.\nCurrent state: APPLIED\nExpected state: CHECKED\n",
      );
    });
    await t.step("revert, revert again, unload", () => {
      assert.equal(h.run(["revert", "hello"]).stdout, "Reverting hello... completed\n");
      assert.equal(h.run(["revert", "hello"]).stdout, "No action needed.\n");
      const r = h.run(["unload", "hello"]);
      assert.deepEqual([r.code, r.stdout], [0, "Unloading hello... completed\n"]);
      assert.equal(h.run(["list"]).stdout, "Nothing to list\n");
    });
    await t.step("an unknown payload", () => {
      const r = h.run(["apply", "nosuch"]);
      assert.equal(r.code, 1);
      assert.equal(r.stdout, "");
      const [a, b, c] = r.stderr.split("\n");
      assert.equal(
        `${a}\n${b}\n`,
        "Failed to get status of nosuch.\nError 2: No such file or directory\n",
      );
      assert.match(c, /^lpkit: no payload named nosuch \[-ENOENT 2, NAME\]/);
    });
    await t.step("flags: only apply takes --nodeps", () => {
      const r = h.run(["revert", "hello", "--nodeps"]);
      assert.deepEqual([r.code, r.stdout, r.stderr], [1, "", "Unsupported flag: --nodeps.\n"]);
    });
    await t.step("commands match exactly, unlike the 4.17 tool's prefixes", () => {
      const r = h.run(["up", "x", hello]);
      assert.equal(r.code, 1);
      assert.equal(r.stderr, "lpkit: unknown command 'up' -- try 'lpkit help'\n");
    });
    await t.step("a missing file: Could not open", () => {
      const r = h.run(["upload", "x", "/nonexistent.livepatch"]);
      assert.equal(r.code, 1);
      assert.equal(
        r.stderr,
        "Could not open /nonexistent.livepatch.\nError 2: No such file or directory\n",
      );
    });
  } finally {
    h.remove();
  }
});

Deno.test("xen-livepatch transcripts: load, and its automatic unload", async (t) => {
  const h = minivisorHost();
  try {
    await t.step("load names the payload after the file and applies it", () => {
      const file = example("hello.livepatch");
      const r = h.run(["load", file]);
      assert.deepEqual([r.code, r.stderr], [0, ""]);
      assert.equal(r.stdout, `Uploading ${file}... completed\nApplying hello... completed\n`);
    });
    await t.step("revert hello: bye then cannot apply on the bare hypervisor", () => {
      h.run(["revert", "hello"]);
      const file = example("bye.livepatch");
      const r = h.run(["load", file]);
      assert.equal(r.code, 1);
      assert.equal(
        r.stdout,
        `Uploading ${file}... completed\nApplying bye... failed\nUnloading bye... completed\n`,
      );
      const lines = r.stderr.split("\n");
      assert.equal(lines[0], "Error 22: Invalid argument");
      // lpkit's line names the check and both build-ids.
      assert.match(
        lines[1],
        /^lpkit: check against hypervisor build-id failed: payload depends on [0-9a-f]{40}, hypervisor is de19508c82473d8adf966f140a9383c4c2ed650a \(\.livepatch\.depends\) \[-EINVAL 22, DEPENDS\]/,
      );
      assert.equal(lines.length, 3, "two lines and the final newline");
      assert.equal(h.run(["list"]).stdout, HEADER + row("hello", "CHECKED", "LIVEPATCH_RULEZ"));
    });
    await t.step("load --nodeps applies it anyway", () => {
      const r = h.run(["load", example("bye.livepatch"), "--nodeps"]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /Applying bye\.\.\. completed\n$/);
    });
    await t.step("load --json describes upload, apply and unload", () => {
      const r = h.run(["load", "--json", example("expect_fail.livepatch")]);
      assert.equal(r.code, 1);
      const doc = json<{
        schema: string;
        name: string;
        upload: { result: string };
        apply: { result: string; error: { errnoName: string; code: string } };
        unload: { result: string };
      }>(r);
      assert.equal(doc.schema, "lpkit.load/1");
      assert.equal(doc.name, "expect_fail");
      assert.equal(doc.upload.result, "completed");
      assert.equal(doc.apply.result, "failed");
      assert.equal(doc.apply.error.errnoName, "EINVAL");
      assert.equal(doc.unload.result, "completed");
    });
  } finally {
    h.remove();
  }
});

Deno.test("xen-livepatch transcripts: names of 127, 128 and 129 characters", () => {
  const h = minivisorHost();
  try {
    const file = example("hello.livepatch");
    const n127 = "n".repeat(127), n128 = "n".repeat(128), n129 = "n".repeat(129);
    const ok = h.run(["upload", n127, file]);
    assert.deepEqual([ok.code, ok.stdout], [0, `Uploading ${file}... completed\n`]);
    // 128 passes the tool's check, then libxenctrl refuses strlen + 1 > 128.
    const edge = h.run(["upload", n128, example("nop.livepatch")]);
    assert.equal(edge.code, 1);
    assert.equal(edge.stdout, `Uploading ${example("nop.livepatch")}... failed\n`);
    assert.match(edge.stderr, /^Error 22: Invalid argument\n/);
    const long = h.run(["upload", n129, file]);
    assert.deepEqual([long.code, long.stdout, long.stderr], [
      1,
      "",
      "ID must be no more than 128 characters.\n",
    ]);
    assert.equal(h.run(["apply", n129]).stderr, "ID must be no more than 128 characters.\n");
    assert.equal(h.run(["list"]).stdout, HEADER + row(n127, "CHECKED", "LIVEPATCH_RULEZ"));
  } finally {
    h.remove();
  }
});

Deno.test("xen-livepatch exit code 2: busy and incomplete operations", async (t) => {
  const h = minivisorHost();
  try {
    await t.step("revert below the top: EBUSY, exit 2", () => {
      h.run(["load", example("hello.livepatch")]);
      h.run(["load", example("bye.livepatch")]);
      const r = h.run(["revert", "hello"]);
      assert.equal(r.code, 2);
      assert.equal(r.stdout, "Reverting hello... failed\n");
      assert.match(r.stderr, /^Error 16: Device or resource busy\nlpkit: hello is not the top/);
      h.run(["revert", "bye"]);
      h.run(["revert", "hello"]);
    });
    await t.step("no time to complete: Operation didn't complete., exit 2", () => {
      const r = h.run(["apply", "hello", "--wait", "0"]);
      assert.deepEqual([r.code, r.stdout, r.stderr], [
        2,
        "Applying hello... failed\n",
        "Operation didn't complete.\n",
      ]);
    });
    await t.step("the pending action shows in list and blocks another", () => {
      const list = h.run(["list"]);
      assert.match(
        list.stdout,
        /^hello {35}\| CHECKED \(11, Resource temporarily unavailable\) {4}\| /m,
      );
      const r = h.run(["apply", "hello"]);
      assert.deepEqual([r.code, r.stdout, r.stderr], [
        2,
        "",
        "Cannot execute hello.\nOperation already in progress.\n",
      ]);
      const status = json<{ pending: { action: string; payload: string } }>(
        h.run(["host", "status", "--json"]),
      );
      assert.deepEqual(status.pending, { action: "apply", payload: "hello" });
    });
    await t.step("host run lets it finish", () => {
      assert.equal(h.run(["host", "run"]).code, 0);
      assert.match(h.run(["list"]).stdout, /^hello {35}\| APPLIED {4}\| LIVEPATCH_RULEZ$/m);
    });
  } finally {
    h.remove();
  }
});

Deno.test("xen-livepatch exit code 2: a CPU busy past the rendezvous timeout", () => {
  // A 100 MHz clock keeps the emulated work small: 30 ms is 3M instructions.
  const h = minivisorHost({ extra: ["--clock", "100MHz"] });
  try {
    h.run(["upload", "hello", example("hello.livepatch")]);
    // ~60 ms of work on CPU1 (about 12 instructions per iteration).
    const bg = h.run(["call", "--background", "--cpu", "1", "long_running_work", "500000"]);
    assert.equal(bg.code, 0, bg.stderr);
    assert.match(h.run(["cpus"]).stdout, /^CPU1 .*\(queued: long_running_work\)$/m);
    const r = h.run(["apply", "hello"]);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stdout, "Applying hello... failed\n");
    assert.match(r.stderr, /^Error 16: Device or resource busy\nlpkit: .*\[-EBUSY 16, TIMEOUT\]/);
    assert.match(
      h.run(["list"]).stdout,
      /hello {35}\| CHECKED \(16, Device or resource busy\) {4}\|/,
    );
    // Once the CPU is back, a retry works; a longer --timeout would have waited for it.
    const again = h.run(["apply", "hello"]);
    assert.deepEqual([again.code, again.stdout], [0, "Applying hello... completed\n"]);
  } finally {
    h.remove();
  }
});

Deno.test("xen-livepatch: a failed apply keeps its errno in list", () => {
  const h = minivisorHost();
  try {
    h.run(["load", example("data.livepatch")]);
    h.run(["revert", "data"]);
    const r = h.run(["apply", "data"]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, "Applying data... failed\n");
    assert.match(r.stderr, /^Error 22: Invalid argument\nlpkit: data has \.data or \.bss/);
    assert.match(h.run(["list"]).stdout, /^data {36}\| CHECKED \(22, Invalid argument\) {4}\| /m);
  } finally {
    h.remove();
  }
});

Deno.test("xen-livepatch commands: --json documents", async (t) => {
  const h = minivisorHost();
  try {
    await t.step("upload", () => {
      const doc = json(h.run(["upload", "--json", "hello", example("hello.livepatch")]));
      assert.equal(doc.schema, "lpkit.upload/1");
      assert.equal(doc.result, "completed");
      assert.match(String(doc.sha256), /^[0-9a-f]{64}$/);
      const bad = h.run(["upload", "--json", "bad", example("bad_version3.livepatch")]);
      assert.equal(bad.code, 1);
      const e = json<{ result: string; error: { code: string; errnoName: string; errno: number } }>(
        bad,
      );
      assert.deepEqual([e.result, e.error.code, e.error.errnoName, e.error.errno], [
        "failed",
        "P3",
        "EOPNOTSUPP",
        -95,
      ]);
    });
    await t.step("apply", () => {
      const doc = json<
        { schema: string; result: string; before: { state: string }; after: { state: string } }
      >(
        h.run(["apply", "--json", "hello"]),
      );
      assert.equal(doc.schema, "lpkit.action/1");
      assert.deepEqual([doc.result, doc.before.state, doc.after.state], [
        "completed",
        "CHECKED",
        "APPLIED",
      ]);
      assert.equal(json(h.run(["apply", "--json", "hello"])).result, "no-action");
    });
    await t.step("list", () => {
      const doc = json<
        {
          schema: string;
          payloads: { name: string; state: string; rc: number; metadata: string[] }[];
        }
      >(
        h.run(["list", "--json"]),
      );
      assert.equal(doc.schema, "lpkit.list/1");
      assert.deepEqual(doc.payloads.map((p) => [p.name, p.state, p.rc, p.metadata]), [
        ["hello", "APPLIED", 0, ["LIVEPATCH_RULEZ"]],
      ]);
    });
    await t.step("a failure outside the tool's messages is an lpkit.error/1 document", () => {
      const file = join(h.dir, "empty");
      writeFileSync(file, "");
      const r = h.run(["list", "--json", "--state", join(h.dir, "nowhere")]);
      assert.equal(r.code, 1);
      const doc = json<{ schema: string; command: string; error: { code: string; hint: string } }>(
        r,
      );
      assert.deepEqual([doc.schema, doc.command, doc.error.code], [
        "lpkit.error/1",
        "list",
        "STATE_MISSING",
      ]);
      assert.match(doc.error.hint, /host init/);
      assert.equal(r.stderr.split("\n").length, 2, "one line on stderr");
    });
  } finally {
    h.remove();
  }
});
