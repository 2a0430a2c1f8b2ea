// End to end on Debian's real Xen 4.17.7 xen-syms: payloads shaped like
// Xen's in-tree tests (examples/xen/), built with gcc against that image's
// build-id, loaded and applied by the simulated host, and the patched
// functions run in the emulator.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { parseElf } from "@lpkit/elf";
import {
  describePayload,
  Host,
  HypervisorCrash,
  LivepatchClient,
  LivepatchError,
} from "@lpkit/livepatch-core";
import { ignoreWithoutXenSyms, readRepoFile, XEN_SYMS_BUILD_ID, xenSymsPath } from "./fixtures.ts";

const payload = (n: string) => readRepoFile(`examples/xen/bin/${n}.livepatch`);

function boot() {
  const host = new Host(readFileSync(xenSymsPath), { cpus: 4 });
  return { host, lp: new LivepatchClient(host) };
}

Deno.test({
  name: "xen-syms: the host runs Xen's own functions on its idle CPUs",
  ignore: ignoreWithoutXenSyms,
  fn() {
    const { host } = boot();
    assert.equal(host.image.buildIdHex, XEN_SYMS_BUILD_ID);
    // What the image says xen_extra_version returns: the string its lea points at.
    assert.equal(host.callString("xen_extra_version"), ".7");
    assert.equal(host.call("xen_major_version"), 4n);
    assert.equal(host.call("xen_minor_version"), 17n);
    for (let k = 0; k < 4; k++) assert.equal(host.cpus.activity(k), "idle");
  },
});

Deno.test({
  name: "xen-syms: xen_hello_world, stacking, revert and replace",
  ignore: ignoreWithoutXenSyms,
  async fn(t) {
    const { host, lp } = boot();
    const address = host.resolve("xen_extra_version")!;
    const original = host.machine.memory.read(address, 12);
    await t.step(
      "Hello World: through alternative(), an exception-table fixup and a BUG_ON",
      () => {
        lp.upload("xen_hello_world", payload("xen_hello_world"));
        lp.apply("xen_hello_world");
        for (let k = 0; k < 4; k++) {
          assert.equal(host.callString("xen_extra_version", [], { cpu: k }), "Hello World");
        }
        const patched = host.machine.memory.read(address, 5);
        assert.equal(patched[0], 0xe9, "no ENDBR64 here: the jump is at the start");
        assert.ok(host.console.some((l) => /fixed up GP at xen_hello_world\+/.test(l.text)));
        // Both load hooks ran once.
        const runs = host.machine.memory.read(host.resolve("xen_hello_world_hook_runs")!, 8);
        assert.deepEqual([...runs], [1, 0, 0, 0, 0, 0, 0, 0]);
      },
    );
    await t.step("a stacked payload returns another string", () => {
      lp.upload("xen_bye_world", payload("xen_bye_world"));
      lp.apply("xen_bye_world");
      assert.equal(host.callString("xen_extra_version"), "Bye World!");
    });
    await t.step("reverting both restores the original bytes and behaviour", () => {
      lp.revert("xen_bye_world");
      assert.equal(host.callString("xen_extra_version"), "Hello World");
      lp.revert("xen_hello_world");
      assert.deepEqual([...host.machine.memory.read(address, 12)], [...original]);
      assert.equal(host.callString("xen_extra_version"), ".7");
      // check_fnc's BUG_ON(cnt == 0 || cnt > 2) passed: hi_func ran on load and unload.
      assert.equal(host.machine.memory.read(host.resolve("hello_world_cnt")!, 1)[0], 2);
    });
    await t.step("replace takes over, resolved by name", () => {
      lp.upload("xen_replace_world", payload("xen_replace_world"));
      lp.apply("xen_bye_world", { nodeps: true });
      lp.replace("xen_replace_world");
      assert.deepEqual(host.appliedStack(), ["xen_replace_world"]);
      assert.equal(host.callString("xen_extra_version"), "Hello Again World!");
    });
  },
});

Deno.test({
  name: "xen-syms: a payload built for another build-id is refused at upload, naming both ids",
  ignore: ignoreWithoutXenSyms,
  fn() {
    const { host, lp } = boot();
    const other = payload("xen_hello_world_other_xen");
    // The id it carries, read by the author-side reader (not the loader).
    const carried = describePayload(parseElf(other)).xenDepends!;
    assert.notEqual(carried, XEN_SYMS_BUILD_ID);
    assert.throws(() => lp.upload("other", other), (e: unknown) => {
      assert.ok(e instanceof LivepatchError);
      assert.equal(e.errno, -22);
      assert.equal(e.code, "X2");
      assert.match(e.message, new RegExp(XEN_SYMS_BUILD_ID));
      assert.match(e.message, new RegExp(`payload needs ${carried}`));
      return true;
    });
    assert.equal(host.payloads().length, 0);
  },
});

Deno.test({
  name: "xen-syms: a BUG_ON in a payload's hook crashes the host with Xen's message",
  ignore: ignoreWithoutXenSyms,
  fn() {
    const { host, lp } = boot();
    lp.upload("xen_hello_world", payload("xen_hello_world"));
    lp.apply("xen_hello_world");
    // check_fnc's BUG_ON(cnt > 2) fires on unload when the counter is off.
    host.machine.memory.write(host.resolve("hello_world_cnt")!, new Uint8Array([5]));
    assert.throws(() => lp.revert("xen_hello_world"), HypervisorCrash);
    assert.ok(host.console.some((l) => /^\(XEN\) Xen BUG at xen_hello_world\.c:\d+$/.test(l.text)));
    assert.throws(() => lp.list(), HypervisorCrash, "a crashed host stays down");
  },
});

Deno.test({
  name: "xen-syms: .altinstructions are applied at upload with the CPU feature model, and checked",
  ignore: ignoreWithoutXenSyms,
  async fn(t) {
    const hello = payload("xen_hello_world");
    const code = (host: Host) => {
      const f = host.resolve("xen_hello_world") ?? host.payloads()[0].payload.funcs[0].newAddr;
      return Array.from(host.machine.memory.read(f, 0x2e), (b) => b.toString(16).padStart(2, "0"))
        .join("");
    };
    await t.step("without the feature the original 8-byte NOP stays", () => {
      const host = new Host(readFileSync(xenSymsPath), { cpus: 1, cpuFeatures: [] });
      new LivepatchClient(host).upload("h", hello);
      assert.match(code(host), /0f1f840000000000/);
    });
    await t.step(
      "with it (X86_FEATURE_FPU) the 1-byte replacement and ideal NOP padding go in",
      () => {
        const host = new Host(readFileSync(xenSymsPath), { cpus: 1, cpuFeatures: [0] });
        const lp = new LivepatchClient(host);
        lp.upload("h", hello);
        assert.match(code(host), /900f1f8000000000/);
        lp.apply("h");
        assert.equal(host.callString("xen_extra_version"), "Hello World");
      },
    );
    // struct alt_instr: orig_len at byte 10, repl_len at 11 (not relocated, so editable in the file).
    const elf = parseElf(hello);
    const alt = elf.sectionByName(".altinstructions")!;
    const mutate = (at: number, v: number) => {
      const b = hello.slice();
      b[alt.offset + at] = v;
      return b;
    };
    await t.step(
      "P10: a replacement longer than its site (orig_len 0; Xen 4.17 hits BUG_ON)",
      () => {
        const lp = boot().lp;
        assert.throws(
          () => lp.upload("h", mutate(10, 0)),
          (e: unknown) => e instanceof LivepatchError && e.code === "P10",
        );
      },
    );
    await t.step("P9: an original range past the payload's text", () => {
      const lp = boot().lp;
      assert.throws(
        () => lp.upload("h", mutate(10, 250)),
        (e: unknown) => e instanceof LivepatchError && e.code === "P9",
      );
    });
  },
});

Deno.test({
  name: "xen-syms: a fixup that faults forever is a budget crash, quickly, with a short console",
  ignore: ignoreWithoutXenSyms,
  fn() {
    // Define the payload's __x86_return_thunk at its own .text+0 (found by the upload fuzz test):
    // every return then re-enters xen_hello_world, whose deliberate fault the .ex_table fixes up,
    // and so on forever. Xen would hang; each handled trap costs TRAP_COST of budget here.
    const bytes = payload("xen_hello_world").slice();
    const elf = parseElf(bytes);
    const thunk = elf.symbols().find((s) => s.name === "__x86_return_thunk")!;
    const symtab = elf.symbolTableSection()!;
    const text = elf.sectionByName(".text")!;
    new DataView(bytes.buffer).setUint16(symtab.offset + thunk.index * 24 + 6, text.index, true);
    const { host, lp } = boot();
    lp.upload("loop", bytes);
    assert.throws(() => lp.apply("loop"), (e: unknown) => {
      assert.ok(e instanceof HypervisorCrash, String(e));
      assert.match(e.message, /in a hook: .* did not return within 50000000 instructions/);
      return true;
    });
    const fixups = host.console.filter((l) => l.text.startsWith("(XEN) fixed up GP"));
    assert.equal(fixups.length, 10, "ten copies of the repeated line");
    assert.match(
      host.console.at(-1)!.text,
      /^\(lpkit\) the last line was repeated \d+ more times$/,
    );
    assert.ok(host.cpus.retired <= 50_000_000 + 10_000);
  },
});
