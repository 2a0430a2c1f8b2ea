// The state folder end to end: concurrent writers all land, a process killed
// mid-write leaves a valid state, damaged or foreign folders are refused and
// never reset, and replay is deterministic.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  example,
  json,
  lpkit,
  lpkitAsync,
  minivisorHost,
  readText,
  tempDir,
  writeMinivisorPayloads,
} from "./cli_run.ts";

type ListDoc = { payloads: { name: string; state: string }[] };
type StateDoc = { history: { op: string; name?: string; atNs: number }[] };

const stateOf = (dir: string) => JSON.parse(readText(join(dir, "state.json"))) as StateDoc;

Deno.test("state: 16 concurrent uploads all land, none lost or duplicated", async () => {
  const h = minivisorHost();
  try {
    const files = writeMinivisorPayloads(h.dir, 16);
    const runs = files.map((f, i) => lpkitAsync(["upload", `p${i}`, f], { state: h.state }).done);
    const results = await Promise.all(runs);
    results.forEach((r, i) => assert.equal(r.code, 0, `upload ${i}: ${r.stderr}`));
    const names = json<ListDoc>(h.run(["list", "--json"])).payloads.map((p) => p.name);
    assert.deepEqual([...names].sort(), files.map((_, i) => `p${i}`).sort());
    const uploads = stateOf(h.state).history.filter((e) => e.op === "upload");
    assert.equal(uploads.length, 16);
    assert.equal(new Set(uploads.map((e) => e.name)).size, 16);
    assert.ok(!existsSync(join(h.state, "lock")), "the lock is released");
  } finally {
    h.remove();
  }
});

Deno.test("state: concurrent actions on one host serialize", async () => {
  const h = minivisorHost();
  try {
    h.run(["upload", "hello", example("hello.livepatch")]);
    // Four applies at once: exactly one applies, the others find nothing to do.
    const results = await Promise.all(
      [0, 1, 2, 3].map(() => lpkitAsync(["apply", "hello"], { state: h.state }).done),
    );
    const outs = results.map((r) => r.stdout).sort();
    assert.deepEqual(outs, [
      "Applying hello... completed\n",
      "No action needed.\n",
      "No action needed.\n",
      "No action needed.\n",
    ]);
  } finally {
    h.remove();
  }
});

Deno.test("state: a process killed mid-write leaves the state valid", async (t) => {
  const h = minivisorHost();
  try {
    const [a, b] = writeMinivisorPayloads(h.dir, 2);
    h.run(["upload", "a", a]);
    const before = readFileSync(join(h.state, "state.json"));

    await t.step("killed between the temporary file and the rename of state.json", async () => {
      const child = lpkitAsync(["upload", "b", b], {
        state: h.state,
        env: { LPKIT_TEST_STALL: "state.json:20000" },
      });
      // Wait until the new state.json is written to its temporary file.
      for (let i = 0; i < 400 && !readdirSync(h.state).some((n) => n.endsWith(".tmp")); i++) {
        await new Promise((r) => setTimeout(r, 25));
      }
      assert.ok(readdirSync(h.state).some((n) => n.endsWith(".tmp")), "the write started");
      Deno.kill(child.pid, "SIGKILL");
      const r = await child.done;
      assert.equal(r.signal, "SIGKILL");
      assert.deepEqual(readFileSync(join(h.state, "state.json")), before, "state.json untouched");
      assert.ok(existsSync(join(h.state, "lock")), "the dead process still holds the lock file");
    });
    await t.step("the next commands see the old state and break the stale lock", () => {
      const list = json<ListDoc>(h.run(["list", "--json"]));
      assert.deepEqual(list.payloads.map((p) => p.name), ["a"]);
      const up = h.run(["upload", "b", b]);
      assert.equal(up.code, 0, up.stderr);
      assert.deepEqual(json<ListDoc>(h.run(["list", "--json"])).payloads.map((p) => p.name), [
        "a",
        "b",
      ]);
      assert.ok(!existsSync(join(h.state, "lock")));
    });
    await t.step(
      "killed at arbitrary moments: the state is always one of the valid ones",
      async () => {
        const files = writeMinivisorPayloads(h.dir, 6, "k");
        for (const [i, f] of files.entries()) {
          const child = lpkitAsync(["upload", `k${i}`, f], { state: h.state });
          await new Promise((r) => setTimeout(r, 40 + i * 35));
          try {
            Deno.kill(child.pid, "SIGKILL");
          } catch {
            // already done
          }
          await child.done;
          const r = h.run(["list", "--json"]);
          assert.equal(r.code, 0, `after kill ${i}: ${r.stderr}`);
          const names = json<ListDoc>(r).payloads.map((p) => p.name);
          assert.deepEqual(names.slice(0, 2), ["a", "b"]);
          assert.ok(names.length <= 3 + i);
        }
      },
    );
  } finally {
    h.remove();
  }
});

Deno.test("state: a damaged folder is an error, and is left as it is", async (t) => {
  const h = minivisorHost();
  try {
    h.run(["upload", "hello", example("hello.livepatch")]);
    const path = join(h.state, "state.json");
    const good = readFileSync(path);
    const refuse = (code: string, pattern: RegExp, reset = true) => {
      const damaged = readFileSync(path);
      const commands = [["list"], ["upload", "x", example("nop.livepatch")]];
      if (reset) commands.push(["host", "reset"]);
      for (const args of commands) {
        const r = h.run(args);
        assert.equal(r.code, 1, `${args.join(" ")}: ${r.stdout}`);
        assert.equal(r.stderr.split("\n").length, 2, `one line: ${r.stderr}`);
        assert.match(r.stderr, pattern);
        assert.deepEqual(readFileSync(path), damaged, "never reset or repaired");
      }
      const doc = json<{ error: { code: string } }>(h.run(["list", "--json"]));
      assert.equal(doc.error.code, code);
    };
    await t.step("truncated JSON", () => {
      writeFileSync(path, good.subarray(0, 100));
      refuse("STATE_CORRUPT", /state\.json is corrupted: not valid JSON/);
    });
    await t.step("a field of the wrong type", () => {
      writeFileSync(path, new TextDecoder().decode(good).replace(/"cpus": 2/, '"cpus": "two"'));
      refuse("STATE_CORRUPT", /host\.cpus is not an integer/);
    });
    await t.step("a foreign document", () => {
      writeFileSync(path, JSON.stringify({ schema: "something/else" }));
      refuse("STATE_FOREIGN", /is not an lpkit host state \(schema "something\/else"/);
    });
    await t.step("a payload file that does not match its hash", () => {
      writeFileSync(path, good);
      const dir = join(h.state, "payloads");
      const [blob] = readdirSync(dir);
      const bytes = readFileSync(join(dir, blob));
      bytes[100] ^= 0xff;
      writeFileSync(join(dir, blob), bytes);
      // (host reset is the remedy here: state.json itself is sound)
      refuse("STATE_CORRUPT", /does not match its SHA-256/, false);
    });
    await t.step("a history that does not replay", () => {
      const dir = join(h.state, "payloads");
      const [blob] = readdirSync(dir);
      writeFileSync(join(dir, blob), readFileSync(example("hello.livepatch")));
      writeFileSync(path, new TextDecoder().decode(good).replace(/"ret":0/, '"ret":-22'));
      refuse(
        "STATE_DIVERGED",
        /diverged at history\[0\] \(upload hello\): recorded ret -22/,
        false,
      );
    });
    await t.step("host init refuses a folder that holds a host, or anything else", () => {
      writeFileSync(path, good);
      const again = h.run(["host", "init", "--example"]);
      assert.equal(again.code, 1);
      assert.match(again.stderr, /already holds a host \(hint: `lpkit host reset`/);
      const other = join(h.dir, "other");
      mkdirSync(other);
      writeFileSync(join(other, "notes.txt"), "mine");
      const r = lpkit(["host", "init", "--example"], { state: other });
      assert.equal(r.code, 1);
      assert.match(r.stderr, /is not empty and holds no lpkit host \(notes\.txt\)/);
      assert.deepEqual(readdirSync(other), ["notes.txt"]);
    });
    await t.step(
      "the repaired folder works again; reset clears a history that does not replay",
      () => {
        assert.equal(h.run(["list"]).code, 0);
        writeFileSync(path, new TextDecoder().decode(good).replace(/"ret":0/, '"ret":-22'));
        assert.equal(h.run(["list"]).code, 1);
        assert.equal(h.run(["host", "reset"]).code, 0);
        assert.equal(h.run(["list"]).stdout, "Nothing to list\n");
      },
    );
  } finally {
    h.remove();
  }
});

Deno.test("state: replay is deterministic; reset drops the history", async (t) => {
  const t1 = tempDir();
  try {
    const script = [
      ["host", "init", "--example", "--cpus", "3"],
      ["load", example("hello.livepatch")],
      ["load", example("bye.livepatch")],
      ["call", "--keep", "bump_event_counter"],
      ["upload", "replace", example("replace.livepatch")],
      ["replace", "replace"],
    ];
    const run = (state: string) => {
      for (const args of script) {
        const r = lpkit(args, { state });
        assert.equal(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
      }
      return stateOf(state).history;
    };
    await t.step("two hosts driven alike record the same history, to the nanosecond", () => {
      const a = run(join(t1.dir, "a"));
      const b = run(join(t1.dir, "b"));
      assert.deepEqual(a, b);
      assert.equal(a.length, 7);
      assert.ok(a.at(-1)!.atNs > 0);
    });
    await t.step("the effects of a kept call stay; a plain call leaves no trace", () => {
      const state = join(t1.dir, "a");
      const read = () => lpkit(["call", "--json", "xen_extra_version", "--string"], { state });
      assert.equal(json(read()).string, "Hello Again World!");
      const before = readText(join(state, "state.json"));
      lpkit(["call", "bump_event_counter"], { state });
      assert.equal(readText(join(state, "state.json")), before);
    });
    await t.step("host reset reboots with an empty history and the same image", () => {
      const state = join(t1.dir, "a");
      const r = lpkit(["host", "reset"], { state });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^Host rebooted: 7 recorded operations dropped/);
      assert.equal(stateOf(state).history.length, 0);
      assert.equal(lpkit(["list"], { state }).stdout, "Nothing to list\n");
      assert.equal(
        lpkit(["call", "xen_extra_version", "--string"], { state }).stdout,
        "-minivisor\n",
      );
      assert.ok(!existsSync(join(state, "payloads")));
    });
  } finally {
    t1.remove();
  }
});

Deno.test("state: a changing command on a missing or foreign folder creates nothing", () => {
  const t = tempDir();
  try {
    const missing = join(t.dir, "nowhere");
    const foreign = join(t.dir, "mine");
    mkdirSync(foreign);
    writeFileSync(join(foreign, "notes.txt"), "mine");
    const commands = [
      ["upload", "hello", example("hello.livepatch")],
      ["load", example("hello.livepatch")],
      ["apply", "hello"],
      ["host", "run"],
      ["host", "reset"],
    ];
    for (const args of commands) {
      for (const [state, what] of [[missing, "does not exist"], [foreign, "holds no host"]]) {
        const r = lpkit(args, { state });
        assert.equal(r.code, 1, `${args.join(" ")}: ${r.stderr}`);
        assert.equal(
          r.stderr,
          `lpkit ${args[0] === "host" ? `host ${args[1]}` : args[0]}: ` +
            `the state folder ${state} ${what} (hint: start one with \`lpkit host init --example\` ` +
            "or `--xen-syms FILE` (or pass --state DIR))\n",
        );
      }
      assert.equal(existsSync(missing), false);
      assert.deepEqual(readdirSync(foreign), ["notes.txt"], "no lock file left behind");
    }
  } finally {
    t.remove();
  }
});
