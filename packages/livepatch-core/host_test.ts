// The simulated host on the minivisor: sysctl semantics, the state machine's
// quirks, stacking, REPLACE, hooks, NOP patches, expectations, the rendezvous
// and its timeout, and lpkit's safety checks.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { craftPayload } from "../../tests/crafted.ts";
import { parseElf } from "@lpkit/elf";
import {
  Host,
  type HostOptions,
  HypervisorCrash,
  LIVEPATCH_OP,
  LIVEPATCH_STATE,
  LivepatchClient,
  LivepatchError,
  nameArg,
} from "./mod.ts";

const example = (f: string) => readFileSync(new URL(`../../examples/bin/${f}`, import.meta.url));
const MINIVISOR = example("minivisor");
const MINIVISOR_ID = "de19508c82473d8adf966f140a9383c4c2ed650a";

function boot(options: HostOptions = {}) {
  const host = new Host(MINIVISOR, { cpus: 4, ...options });
  return { host, lp: new LivepatchClient(host) };
}

function rejects(fn: () => unknown, errno: string, code?: string) {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof LivepatchError, String(e));
    assert.equal(e.errnoName, errno, e.message);
    if (code !== undefined) assert.equal(e.code, code, e.message);
    return true;
  });
}

const bytesAt = (host: Host, symbol: string, n: number) =>
  host.machine.memory.read(host.resolve(symbol)!, n);

Deno.test("host: boots every CPU into the minivisor's idle loop", () => {
  const { host } = boot();
  for (let k = 0; k < 4; k++) {
    assert.equal(host.cpus.activity(k), "idle");
    const bt = host.cpus.backtrace(k);
    assert.match(bt[0], /^idle_loop\+/);
    assert.match(bt[bt.length - 1], k === 0 ? /^_start\+/ : /^ap_start\+/);
  }
  assert.equal(host.callString("xen_extra_version"), "-minivisor");
  assert.equal(host.call("xen_major_version"), 4n);
});

Deno.test("host: apply writes the jump after ENDBR64, revert restores every byte", async (t) => {
  const { host, lp } = boot();
  const before = bytesAt(host, "xen_extra_version", 16);
  lp.upload("hello", example("hello.livepatch"));
  await t.step("the action is asynchronous: rc is -EAGAIN until the rendezvous", () => {
    const status = lp.apply("hello", { wait: false });
    assert.deepEqual(status, { state: LIVEPATCH_STATE.CHECKED, rc: -11 });
    host.settle();
    assert.deepEqual(lp.get("hello"), { state: LIVEPATCH_STATE.APPLIED, rc: 0 });
  });
  await t.step("the patched function returns the new string on every CPU", () => {
    for (let k = 0; k < 4; k++) {
      assert.equal(host.callString("xen_extra_version", [], { cpu: k }), "Hello World");
    }
    const after = bytesAt(host, "xen_extra_version", 16);
    assert.deepEqual([...after.subarray(0, 4)], [0xf3, 0x0f, 0x1e, 0xfa], "ENDBR64 kept");
    assert.equal(after[4], 0xe9);
    const rel = new DataView(after.buffer).getInt32(5, true);
    const target = host.resolve("xen_extra_version")! + 9n + BigInt(rel);
    assert.match(host.symbolize(target), /^xen_hello_world\+0x0\/.*\[hello\]$/);
    assert.deepEqual([...after.subarray(9)], [...before.subarray(9)], "only 5 bytes changed");
  });
  await t.step("revert puts the original bytes back", () => {
    lp.revert("hello");
    assert.deepEqual([...bytesAt(host, "xen_extra_version", 16)], [...before]);
    assert.equal(host.callString("xen_extra_version"), "-minivisor");
  });
  assert.ok(host.console.some((l) => l.text === "livepatch: hello finished APPLY with rc=0"));
  assert.ok(host.console.some((l) => l.text === "livepatch:   LIVEPATCH_RULEZ"));
});

Deno.test("host: stacking follows the build-id chain", async (t) => {
  const { host, lp } = boot();
  lp.upload("hello", example("hello.livepatch"));
  lp.upload("bye", example("bye.livepatch"));
  await t.step("bye depends on hello: refused on the bare hypervisor, synchronously", () => {
    rejects(() => lp.apply("bye"), "EINVAL", "DEPENDS");
    assert.deepEqual(lp.get("bye"), { state: LIVEPATCH_STATE.CHECKED, rc: 0 }, "rc untouched");
  });
  await t.step("on top of hello it applies", () => {
    lp.apply("hello");
    lp.apply("bye");
    assert.equal(host.callString("xen_extra_version"), "Bye World!");
    assert.deepEqual(host.appliedStack(), ["hello", "bye"]);
  });
  await t.step("only the top reverts", () => {
    rejects(() => lp.revert("hello"), "EBUSY", "TOP");
    lp.revert("bye");
    assert.equal(host.callString("xen_extra_version"), "Hello World");
    lp.revert("hello");
    assert.equal(host.callString("xen_extra_version"), "-minivisor");
  });
  await t.step("--nodeps skips the check", () => {
    lp.apply("bye", { nodeps: true });
    assert.equal(host.callString("xen_extra_version"), "Bye World!");
  });
});

Deno.test("host: REPLACE reverts the whole stack, then applies", () => {
  const { host, lp } = boot();
  const original = bytesAt(host, "xen_extra_version", 16);
  for (const n of ["hello", "bye", "replace"]) lp.upload(n, example(`${n}.livepatch`));
  lp.apply("hello");
  lp.apply("bye");
  lp.replace("replace");
  assert.deepEqual(host.appliedStack(), ["replace"]);
  assert.equal(host.callString("xen_extra_version"), "Hello Again World!");
  assert.deepEqual(lp.get("hello"), { state: LIVEPATCH_STATE.CHECKED, rc: 0 });
  assert.deepEqual(lp.get("bye"), { state: LIVEPATCH_STATE.CHECKED, rc: 0 });
  lp.revert("replace");
  assert.deepEqual([...bytesAt(host, "xen_extra_version", 16)], [...original]);
});

Deno.test("host: the state machine's quirks (reference §4.5, §10)", async (t) => {
  const { host, lp } = boot();
  lp.upload("hello", example("hello.livepatch"));
  await t.step("REVERT of a CHECKED payload returns 0 and does nothing", () => {
    assert.deepEqual(lp.revert("hello"), { state: LIVEPATCH_STATE.CHECKED, rc: 0 });
  });
  lp.apply("hello");
  await t.step("APPLY and REPLACE of an APPLIED payload return 0 and do nothing", () => {
    assert.deepEqual(lp.apply("hello"), { state: LIVEPATCH_STATE.APPLIED, rc: 0 });
    assert.deepEqual(lp.replace("hello"), { state: LIVEPATCH_STATE.APPLIED, rc: 0 });
  });
  await t.step(
    "UNLOAD of an APPLIED payload is -EINVAL",
    () => rejects(() => lp.unload("hello"), "EINVAL"),
  );
  await t.step("an action while this payload's is pending is -EBUSY", () => {
    lp.revert("hello", { wait: false });
    rejects(() => lp.revert("hello", { wait: false }), "EBUSY");
    host.settle();
  });
  await t.step("another payload's action while one is pending: -EBUSY, rc left at -EAGAIN", () => {
    lp.upload("nop", example("nop.livepatch"));
    lp.apply("hello", { wait: false });
    rejects(() => lp.apply("nop", { wait: false }), "EBUSY");
    assert.equal(lp.get("nop").rc, -11);
    host.settle();
    assert.equal(lp.get("hello").state, LIVEPATCH_STATE.APPLIED);
  });
  await t.step("UNLOAD of a CHECKED payload frees it", () => {
    const before = host.version;
    lp.unload("nop");
    rejects(() => lp.get("nop"), "ENOENT");
    assert.equal(host.version, before + 1);
  });
});

Deno.test("host: a reverted payload with .data cannot be applied again", () => {
  const { lp } = boot();
  lp.upload("data", example("data.livepatch"));
  lp.apply("data");
  lp.revert("data");
  // The sysctl returns 0; the failure is in rc.
  rejects(() => lp.apply("data"), "EINVAL", "REAPPLY");
  assert.deepEqual(lp.get("data"), { state: LIVEPATCH_STATE.CHECKED, rc: -22 });
  lp.upload("hello", example("hello.livepatch"));
  lp.apply("hello");
  lp.revert("hello");
  lp.apply("hello"); // only .livepatch.funcs is writable in hello: re-appliable
});

Deno.test("host: expectations are checked at APPLY", () => {
  const { host, lp } = boot();
  lp.upload("ok", example("expect_ok.livepatch"));
  lp.upload("fail", example("expect_fail.livepatch"));
  rejects(() => lp.apply("fail"), "EINVAL", "EXPECT");
  assert.deepEqual(lp.get("fail"), { state: LIVEPATCH_STATE.CHECKED, rc: 0 });
  lp.apply("ok");
  assert.notEqual(host.callString("xen_extra_version"), "-minivisor");
});

Deno.test("host: a NOP patch silences bump_event_counter", () => {
  const { host, lp } = boot();
  const counter = host.resolve("event_counter")!;
  const read = () => host.machine.memory.readU64(counter) & 0xffffffffn;
  host.call("bump_event_counter");
  const one = read();
  lp.upload("nop", example("nop.livepatch"));
  lp.apply("nop");
  const code = bytesAt(host, "bump_event_counter", 16);
  assert.deepEqual([...code.subarray(4, 11)], [0x0f, 0x1f, 0x80, 0, 0, 0, 0], "a 7-byte P6 NOP");
  host.call("bump_event_counter");
  assert.equal(read(), one);
  lp.revert("nop");
  host.call("bump_event_counter");
  assert.equal(read(), one + 1n);
});

Deno.test("host: an unmapped old_addr or hook crashes the hypervisor, as on Xen", async (t) => {
  const crashes = (fn: () => unknown, pattern: RegExp) =>
    assert.throws(fn, (e: unknown) => {
      assert.ok(e instanceof HypervisorCrash, String(e));
      assert.match(e.message, pattern);
      return true;
    });
  await t.step("a NOP entry at an unmapped address faults when patched", () => {
    const { host, lp } = boot();
    const payload = craftPayload({
      xenDepends: MINIVISOR_ID,
      depends: MINIVISOR_ID,
      funcs: [{
        old: 0xffff800000000000n,
        name: "nowhere",
        replacement: null,
        oldSize: 8,
        newSize: 5,
      }],
    });
    lp.upload("bad", payload); // Xen does not check that old_addr is text (reference §1.4)
    crashes(() => lp.apply("bad"), /patching in the rendezvous: Page fault: read of unmapped/);
    crashes(() => lp.list(), /patching in the rendezvous/); // the host is dead
    assert.ok(host.cpus.crash instanceof HypervisorCrash);
  });
  await t.step("a hook at a non-canonical address is a #GP on the call", () => {
    const { lp } = boot();
    // hooks.livepatch's first load hook is `.text + 0x10`: move it below the canonical hole.
    const bytes = new Uint8Array(example("hooks.livepatch"));
    const rela = parseElf(bytes).sectionByName(".rela.livepatch.hooks.load")!;
    new DataView(bytes.buffer).setBigInt64(rela.offset + 16, -0x7d3000000000n, true);
    lp.upload("hooks", bytes);
    crashes(() => lp.apply("hooks"), /: Non-canonical address 0xffff05a0[0-9a-f]+ \[GP\]/);
  });
});

Deno.test("host: hooks run in the emulator, in Xen's order", () => {
  const { host, lp } = boot();
  lp.upload("hooks", example("hooks.livepatch"));
  const counters = host.resolve("hooks_lp_counters")!;
  const read = () => {
    const b = host.machine.memory.read(counters, 32);
    const v = new DataView(b.buffer);
    return [1, 2, 3, 4, 5, 6, 7].map((i) => v.getUint32(i * 4, true));
  };
  lp.apply("hooks");
  // load_a, load_b, unload, preapply, postapply, prerevert, postrevert
  assert.deepEqual(read(), [1, 1, 0, 1, 1, 0, 0]);
  assert.equal(host.callString("xen_compile_date"), "Hooked Thu Jan  1 1970");
  lp.revert("hooks");
  assert.deepEqual(read(), [1, 1, 1, 1, 1, 1, 1]);
  const text = host.console.map((l) => l.text);
  const order = [
    "livepatch: hooks: Calling pre-apply hook function",
    "livepatch: hooks: Applying 1 functions",
    "livepatch: hooks: Calling post-apply hook function with rc=0",
    "livepatch: hooks finished APPLY with rc=0",
  ].map((l) => text.indexOf(l));
  assert.ok(order.every((i, k) => i >= 0 && (k === 0 || i > order[k - 1])), order.join(","));
});

Deno.test("host: a vetoing pre-apply hook aborts synchronously", () => {
  // preapply returns -EPERM-like -1: `mov eax, -1; ret`
  const bytes = craftPayload({
    depends: MINIVISOR_ID,
    xenDepends: MINIVISOR_ID,
    text: {
      lp_hello: [0x48, 0x8d, 0x05, 0, 0, 0, 0, 0xc3],
      lp_veto: [0xb8, 0xff, 0xff, 0xff, 0xff, 0xc3],
    },
    funcs: [{
      old: "xen_extra_version",
      name: "xen_extra_version",
      replacement: "lp_hello",
      newSize: 8,
      oldSize: 16,
    }],
    hooks: { preapply: ["lp_veto"] },
  });
  const { lp } = boot();
  lp.upload("veto", bytes);
  rejects(() => lp.apply("veto"), "EPERM", "HOOK");
  assert.deepEqual(lp.get("veto"), { state: LIVEPATCH_STATE.CHECKED, rc: -1 });
});

Deno.test("host: the rendezvous waits for a busy CPU, within the timeout", async (t) => {
  // A 100 MHz clock keeps the emulated work small: 30 ms is 3M instructions.
  const iterations = (ms: number) => BigInt(Math.round(ms * 1e5 / 12)); // ~12 instructions per iteration
  await t.step("busy for ~10 ms: the action completes after the CPU comes back", () => {
    const { host, lp } = boot({ clockHz: 1e8 });
    lp.upload("hello", example("hello.livepatch"));
    host.call("schedule_long_work", [2n, iterations(10)]);
    host.cpus.wake(2);
    host.advance(100_000); // CPU2 is now in long_running_work
    assert.equal(host.cpus.activity(2), "running");
    const t0 = host.cpus.nowNs;
    lp.apply("hello");
    assert.ok(host.cpus.nowNs - t0 > 5e6, `waited ${host.cpus.nowNs - t0} ns`);
    assert.equal(host.callString("xen_extra_version"), "Hello World");
  });
  await t.step("busy for ~60 ms: -EBUSY after 30 ms and nothing changed", () => {
    const { host, lp } = boot({ clockHz: 1e8 });
    lp.upload("hello", example("hello.livepatch"));
    const before = bytesAt(host, "xen_extra_version", 16);
    host.call("schedule_long_work", [3n, iterations(60)]);
    host.cpus.wake(3);
    host.advance(100_000);
    rejects(() => lp.apply("hello"), "EBUSY", "TIMEOUT");
    assert.deepEqual(lp.get("hello"), { state: LIVEPATCH_STATE.CHECKED, rc: -16 });
    assert.deepEqual([...bytesAt(host, "xen_extra_version", 16)], [...before]);
    assert.ok(
      host.console.some((l) => /Timed out on semaphore in CPU quiesce phase 2\/3/.test(l.text)),
    );
    host.settle(1e9);
    lp.apply("hello"); // once the CPU is back, a retry works
    assert.equal(host.callString("xen_extra_version"), "Hello World");
  });
  await t.step("a longer timeout lets the same action through", () => {
    const { host, lp } = boot({ clockHz: 1e8 });
    lp.upload("hello", example("hello.livepatch"));
    host.call("schedule_long_work", [3n, iterations(60)]);
    host.cpus.wake(3);
    host.advance(100_000);
    lp.apply("hello", { timeoutNs: 200_000_000 });
    assert.equal(host.callString("xen_extra_version"), "Hello World");
  });
});

Deno.test("host: sysctl argument rules", async (t) => {
  const { host } = boot();
  const payload = example("hello.livepatch");
  const upload = (
    name: ReturnType<typeof nameArg>,
    p: Uint8Array | undefined = payload,
    size?: number,
  ) => host.sysctl({ domid: 0, op: { cmd: LIVEPATCH_OP.UPLOAD, name, payload: p, size } }).ret;
  await t.step("only the control domain", () => {
    assert.equal(host.sysctl({ domid: 1, op: { cmd: LIVEPATCH_OP.LIST, idx: 0, nr: 0 } }).ret, -1);
  });
  await t.step("interface version and pad", () => {
    assert.equal(
      host.sysctl({ domid: 0, interfaceVersion: 0x14, op: { cmd: 2, idx: 0, nr: 0 } }).ret,
      -13,
    );
    assert.equal(host.sysctl({ domid: 0, pad: 1, op: { cmd: 2, idx: 0, nr: 0 } }).ret, -22);
    assert.equal(host.sysctl({ domid: 0, op: { cmd: 9 } }).ret, -95);
  });
  await t.step("names: 127 characters fit, 128 do not; size, pad and NUL rules", () => {
    assert.equal(upload(nameArg("n".repeat(128))), -22);
    assert.equal(upload({ buffer: new Uint8Array(4), size: 0 }), -22);
    assert.equal(upload({ ...nameArg("abc"), pad: [0, 1, 0] }), -22);
    assert.equal(
      upload({ buffer: new TextEncoder().encode("abcd"), size: 4 }),
      -22,
      "no NUL at size-1",
    );
    assert.equal(upload(nameArg("n".repeat(127))), 0);
    assert.equal(upload(nameArg("n".repeat(127))), -17, "duplicate name");
    // Embedded NUL: the effective name stops there.
    const nop = example("nop.livepatch"); // another build-id: the same one twice is -EEXIST
    assert.equal(upload({ buffer: new TextEncoder().encode("ab\0cd\0"), size: 6 }, nop), 0);
    const get = host.sysctl({ domid: 0, op: { cmd: LIVEPATCH_OP.GET, name: nameArg("ab") } });
    assert.equal(get.ret, 0);
  });
  await t.step("payload size and buffer", () => {
    assert.equal(upload(nameArg("z"), payload, 0), -22);
    assert.equal(upload(nameArg("z"), new Uint8Array(2 * 1024 * 1024 + 1)), -22);
    const unreadable = host.sysctl({
      domid: 0,
      op: { cmd: LIVEPATCH_OP.UPLOAD, name: nameArg("z"), payload: undefined, size: 10 },
    });
    assert.equal(unreadable.ret, -14);
  });
});

Deno.test("host: LIST pages through payloads with version, idx and nr", () => {
  const { host, lp } = boot();
  const list = (idx: number, nr: number) =>
    host.sysctl({ domid: 0, op: { cmd: LIVEPATCH_OP.LIST, idx, nr } });
  assert.equal(list(5, 0).ret, 0, "with no payloads any idx is fine");
  for (const n of ["hello", "nop", "multi"]) lp.upload(n, example(`${n}.livepatch`));
  const probe = list(0, 0).list!;
  assert.equal(probe.nr, 3);
  assert.equal(probe.version, 4);
  assert.equal(probe.nameTotalSize, 6 + 4 + 6);
  const page = list(1, 1);
  assert.equal(page.ret, 1);
  assert.equal(page.list!.entries[0].name, "nop");
  assert.equal(page.list!.nr, 1, "remaining after the ones visited");
  assert.equal(list(3, 1).ret, -22);
  assert.equal(list(0, 1025).ret, -7);
  assert.deepEqual(lp.list().map((e) => e.name), ["hello", "nop", "multi"]);
  const hello = lp.list()[0];
  assert.equal(new TextDecoder().decode(hello.metadata), "LIVEPATCH_RULEZ\0");
});

Deno.test("host: a failed upload leaves nothing behind", () => {
  const { host, lp } = boot();
  const version = host.version;
  rejects(() => lp.upload("bad", example("bad_undefined_symbol.livepatch")), "ENOENT", "R2");
  assert.equal(host.version, version);
  assert.equal(host.payloads().length, 0);
  lp.upload("hello", example("hello.livepatch"));
  assert.equal(host.payloads()[0].area.base, host.image.end + 0x100000n, "the area was freed");
});

Deno.test("host: lpkit's safety checks, and switching them off", async (t) => {
  const idlePatch = craftPayload({
    depends: MINIVISOR_ID,
    xenDepends: MINIVISOR_ID,
    text: { lp_idle: [0xc3] },
    funcs: [{
      old: "idle_loop",
      name: "idle_loop",
      replacement: "lp_idle",
      newSize: 1,
      oldSize: 0x78, // all of idle_loop: the CPUs sleep at +0x50
    }],
  });
  await t.step("the deny-list refuses idle_loop at upload", () => {
    const { lp } = boot();
    rejects(() => lp.upload("idle", idlePatch), "EPERM", "DENY");
  });
  await t.step("without it, the stack check finds every CPU sleeping on idle_loop", () => {
    const { host, lp } = boot({ safety: { denyList: [] } });
    lp.upload("idle", idlePatch);
    rejects(() => lp.apply("idle"), "EBUSY", "STACK");
    const hazards = host.payloads()[0].lastHazards!;
    assert.deepEqual([...new Set(hazards.map((h) => h.cpu))].sort(), [0, 1, 2, 3]);
    assert.ok(hazards.some((h) => h.source === "call chain" && /^idle_loop\+/.test(h.where)));
    assert.equal(host.appliedStack().length, 0);
  });
  await t.step("with every check off the host behaves like Xen and patches", () => {
    const { host, lp } = boot({
      safety: { denyList: [], stackCheck: false, branchCheck: false, reachCheck: false },
    });
    lp.upload("idle", idlePatch);
    lp.apply("idle", { wait: false });
    host.cpus.advance(1e5, () => host.pendingWork() === undefined);
    assert.equal(host.appliedStack()[0], "idle");
  });
});

Deno.test("host: CPUs keep working while a patch is applied; no stale code runs", () => {
  const { host, lp } = boot({ xmc: "strict" });
  const buf = 0x10000000n;
  host.machine.memory.map(buf, 0x10000, 3);
  lp.upload("hello", example("hello.livepatch"));
  // 3 CPUs each run 40 xen_version(XENVER_extraversion) hypercalls into their own slots.
  const tasks = [];
  for (let i = 0; i < 40; i++) {
    for (const cpu of [1, 2, 3]) {
      tasks.push(host.startTask(cpu, "do_hypercall", [17n, 1n, buf + BigInt((cpu * 40 + i) * 16)]));
    }
  }
  host.advance(20_000); // some of them run before the action
  lp.apply("hello");
  assert.ok(host.settle());
  assert.ok(tasks.every((t) => t.done && t.result === 0n));
  const seen = new Set<string>();
  for (let k = 40; k < 160; k++) {
    seen.add(host.machine.memory.readCString(buf + BigInt(k * 16), 16));
  }
  assert.deepEqual([...seen].sort(), ["-minivisor", "Hello World"]);
  assert.deepEqual(host.machine.hazards, [], "every CPU serialized before running patched code");
});

Deno.test("host: patching behind the rendezvous' back shows up as a cross-modifying-code hazard", () => {
  const { host } = boot({ xmc: "strict" });
  const f = host.resolve("xen_extra_version")!;
  const t1 = host.startTask(1, f);
  host.settle(); // CPU1 has decoded xen_extra_version
  assert.ok(t1.done);
  // What a patcher without a rendezvous would do: rewrite the code while CPU1 is live.
  host.machine.memory.write(f + 4n, new Uint8Array([0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90]));
  host.startTask(1, f);
  host.settle();
  assert.ok(host.machine.hazards.some((h) => h.cpu === 1), "CPU1 ran the stale bytes");
});

Deno.test("host: the seed's v1 format under the xen-4.7 profile", async (t) => {
  await t.step("4.17 refuses it: no .livepatch.xen_depends (reference §9)", () => {
    const { lp } = boot();
    rejects(() => lp.upload("v1", example("v1.livepatch")), "EINVAL", "C1");
  });
  await t.step("4.7 applies it, writing the jump at the very start (no ENDBR64 awareness)", () => {
    const { host, lp } = boot({ profile: "xen-4.7" });
    lp.upload("v1", example("v1.livepatch"));
    lp.apply("v1");
    assert.equal(host.callString("xen_extra_version"), "Hello v1 World");
    assert.equal(bytesAt(host, "xen_extra_version", 1)[0], 0xe9);
    lp.revert("v1");
    assert.deepEqual([...bytesAt(host, "xen_extra_version", 4)], [0xf3, 0x0f, 0x1e, 0xfa]);
  });
  await t.step("4.7 refuses NOP entries and v2 payloads", () => {
    const { lp } = boot({ profile: "xen-4.7" });
    rejects(() => lp.upload("hello", example("hello.livepatch")), "EINVAL");
  });
});

Deno.test("host: signature enforcement runs before any parsing", () => {
  const seen: number[] = [];
  const { host, lp } = boot({
    signatureCheck: (file) => {
      seen.push(file.length);
      const trailer = new TextEncoder().encode("~signed~");
      const tail = file.subarray(file.length - trailer.length);
      if (!tail.every((b, i) => b === trailer[i])) {
        throw new LivepatchError("EACCES", "UNSIGNED", "payload is not signed");
      }
      return file.subarray(0, file.length - trailer.length);
    },
  });
  const hello = example("hello.livepatch");
  rejects(() => lp.upload("hello", hello), "EACCES", "UNSIGNED");
  assert.equal(host.payloads().length, 0);
  // Garbage is refused by the signature check, not by the ELF checks.
  rejects(() => lp.upload("junk", new Uint8Array(100)), "EACCES", "UNSIGNED");
  const signed = new Uint8Array([...hello, ...new TextEncoder().encode("~signed~")]);
  lp.upload("hello", signed);
  lp.apply("hello");
  assert.equal(host.callString("xen_extra_version"), "Hello World");
  assert.deepEqual(seen, [hello.length, 100, signed.length]);
});

Deno.test("host: a payload area beyond ±2 GiB fails the distance check", () => {
  const { lp, host } = boot({ payloadBase: 0xffff82d140000000n }); // 4 GiB past the image
  // A real payload fails earlier: its PC32 call of __x86_return_thunk cannot reach.
  rejects(() => lp.upload("hello", example("hello.livepatch")), "EOVERFLOW", "L11");
  // Self-contained code relocates; then old_addr - new_addr is over 2 GiB.
  const selfContained = craftPayload({
    depends: MINIVISOR_ID,
    xenDepends: MINIVISOR_ID,
    text: { lp_ret0: [0x31, 0xc0, 0xc3] },
    funcs: [{
      old: "xen_extra_version",
      name: "xen_extra_version",
      replacement: "lp_ret0",
      oldSize: 16,
    }],
  });
  rejects(() => lp.upload("far", selfContained), "EOVERFLOW", "P3");
  // NOP patches have no jump, hence no distance to check.
  lp.upload("nop", example("nop.livepatch"));
  assert.equal(host.payloads()[0].area.base, 0xffff82d140000000n);
});
