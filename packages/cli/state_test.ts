import assert from "node:assert/strict";
import { prng } from "../../tests/fixtures.ts";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  CliError,
  encodeState,
  parseState,
  processIo,
  STATE_SCHEMA,
  type StateFile,
  withLock,
} from "./mod.ts";

const STATE: StateFile = {
  schema: STATE_SCHEMA,
  lpkit: "0.1.0",
  created: "2025-01-01T00:00:00.000Z",
  host: {
    image: { kind: "file", path: "/x/xen-syms", sha256: "ab".repeat(32), size: 10 },
    cpus: 4,
    clockHz: 2e9,
    profile: "xen-4.17",
    vendor: "intel",
    safety: { stackCheck: true, denyList: true, branchCheck: false, reachCheck: true },
    signatures: { enforce: true, trustSha256: "cd".repeat(32), trustSources: ["/k.crt"] },
  },
  history: [
    { op: "upload", name: "hello", sha256: "ef".repeat(32), ret: 0, atNs: 20000 },
    {
      op: "action",
      name: "hello",
      action: "apply",
      nodeps: false,
      timeoutNs: 30_000_000,
      waitNs: 60_000_000,
      ret: 0,
      atNs: 35000.5,
    },
    {
      op: "call",
      target: "bump_event_counter",
      args: ["0x1"],
      cpu: null,
      budget: 50_000_000,
      ret: null,
      atNs: 36000,
      result: "0x0",
    },
    { op: "task", target: "long_running_work", args: ["0x10"], cpu: 1, ret: null, atNs: 36000 },
    { op: "run", ns: 1e9, untilDone: true, ret: null, atNs: 40000, crash: "boom" },
  ],
};

Deno.test("parseState() reads what encodeState() writes", () => {
  assert.deepEqual(parseState(encodeState(STATE), "s"), STATE);
  const text = new TextDecoder().decode(encodeState(STATE));
  assert.equal(text.split("\n").filter((l) => l.startsWith("    {")).length, 5, "one entry a line");
});

Deno.test("parseState() names what is wrong", async (t) => {
  // deno-lint-ignore no-explicit-any -- a JSON document edited in place
  type Doc = any;
  const broken = (edit: (o: Doc) => void) => {
    const o = JSON.parse(new TextDecoder().decode(encodeState(STATE)));
    edit(o);
    return new TextEncoder().encode(JSON.stringify(o));
  };
  const cases: [string, (o: Doc) => void, string, RegExp][] = [
    ["schema", (o) => (o.schema = "x/1"), "STATE_FOREIGN", /not an lpkit host state/],
    ["no schema", (o) => delete o.schema, "STATE_FOREIGN", /schema null/],
    ["cpus", (o) => (o.host.cpus = 0), "STATE_CORRUPT", /host\.cpus is not an integer in 1\.\.64/],
    ["profile", (o) => (o.host.profile = "xen-9"), "STATE_CORRUPT", /host\.profile is not one of/],
    [
      "hash",
      (o) => (o.host.image.sha256 = "zz"),
      "STATE_CORRUPT",
      /host\.image\.sha256 is not a SHA-256/,
    ],
    ["op", (o) => (o.history[1].op = "frob"), "STATE_CORRUPT", /history\[1\]\.op is unknown/],
    ["ret", (o) => (o.history[0].ret = 5), "STATE_CORRUPT", /history\[0\]\.ret/],
    ["args", (o) => (o.history[2].args = [1]), "STATE_CORRUPT", /history\[2\]\.args/],
    ["time", (o) => (o.history[0].atNs = -1), "STATE_CORRUPT", /history\[0\]\.atNs is not a time/],
    [
      "trust",
      (o) => (o.host.signatures.trustSha256 = null),
      "STATE_CORRUPT",
      /enforced without a trust store/,
    ],
  ];
  for (const [what, edit, code, message] of cases) {
    await t.step(what, () => {
      assert.throws(() => parseState(broken(edit), "s/state.json"), (e) => {
        assert.ok(e instanceof CliError, String(e));
        assert.equal(e.code, code);
        assert.match(e.message, message);
        assert.ok(!e.message.includes("\n"), "one line");
        return true;
      });
    });
  }
});

Deno.test("parseState() fuzz: damaged files are STATE_* errors, never crashes", () => {
  const good = encodeState(STATE);
  const next = prng(42);
  let accepted = 0;
  for (let i = 0; i < 3000; i++) {
    const bytes = good.slice();
    const kind = i % 3;
    if (kind === 0) {
      for (let k = 0; k < 1 + Math.floor(next() * 4); k++) {
        bytes[Math.floor(next() * bytes.length)] = Math.floor(next() * 256);
      }
    }
    const input = kind === 1 ? bytes.subarray(0, Math.floor(next() * bytes.length)) : bytes;
    if (kind === 2) {
      // Swap a value for another JSON value of another type.
      const text = new TextDecoder().decode(good);
      const values = ['"x"', "0", "-1", "null", "true", "[]", "{}", "1e400", '"a"'];
      const at = [...text.matchAll(/: ("[^"]*"|-?[\d.]+|true|false|null)/g)];
      const m = at[Math.floor(next() * at.length)];
      const edited = text.slice(0, m.index! + 2) + values[Math.floor(next() * values.length)] +
        text.slice(m.index! + m[0].length);
      try {
        parseState(new TextEncoder().encode(edited), "s");
        accepted++;
      } catch (e) {
        assert.ok(e instanceof CliError && /^STATE_/.test(e.code), String(e));
      }
      continue;
    }
    try {
      const s = parseState(input, "s");
      accepted++;
      assert.equal(s.schema, STATE_SCHEMA);
    } catch (e) {
      assert.ok(e instanceof CliError && /^STATE_/.test(e.code), String(e));
    }
  }
  assert.ok(accepted < 3000, "most damage is detected");
});

Deno.test("withLock() serializes, breaks stale locks, and gives up on live ones", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "lpkit-lock-"));
  const io = processIo();
  const lock = join(dir, "lock");
  try {
    await t.step("holds the lock while running, releases it after", () => {
      const inside = withLock(io, dir, () => readFileSync(lock, "utf8"));
      assert.match(inside, new RegExp(`^${io.pid} [0-9a-z]+\\n$`));
      assert.throws(() => readFileSync(lock));
    });
    await t.step(
      "a lock held by a live process makes others wait, then STATE_LOCKED (exit 2)",
      () => {
        withLock(io, dir, () => {
          assert.throws(() => withLock(io, dir, () => 1, { timeoutMs: 100 }), (e) => {
            assert.ok(e instanceof CliError);
            assert.equal(e.code, "STATE_LOCKED");
            assert.equal(e.exitCode, 2);
            assert.match(e.message, new RegExp(`locked by process ${io.pid}`));
            return true;
          });
        });
      },
    );
    await t.step("a lock left by a dead process is broken", () => {
      const dead = spawnSync("true").pid!;
      writeFileSync(lock, `${dead} deadbeef\n`);
      assert.equal(withLock(io, dir, () => 7, { timeoutMs: 1000 }), 7);
    });
    await t.step("a half-created (empty) lock: stale only once it is old", () => {
      writeFileSync(lock, "");
      assert.throws(
        () => withLock(io, dir, () => 1, { timeoutMs: 100, unreadableStaleMs: 60_000 }),
        (e) => e instanceof CliError && e.code === "STATE_LOCKED",
      );
      const old = new Date(Date.now() - 120_000);
      utimesSync(lock, old, old);
      assert.equal(withLock(io, dir, () => 2, { timeoutMs: 1000, unreadableStaleMs: 60_000 }), 2);
    });
    await t.step("a lock released by its holder is not removed by another", () => {
      withLock(io, dir, () => {
        writeFileSync(lock, `${io.pid} someoneelse\n`); // as if broken and retaken meanwhile
      });
      assert.equal(readFileSync(lock, "utf8"), `${io.pid} someoneelse\n`);
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
