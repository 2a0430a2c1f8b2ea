// HostCpus: how a fault that Xen's trap handlers meet is accounted for.
import assert from "node:assert/strict";
import { CpuFault, Machine, PERM_RX } from "@lpkit/x86-emu";
import { HostCpus, HypervisorCrash, TRAP_COST } from "./mod.ts";

/** A machine whose function at 0x1000 is `ud2; ret` (or only `ret`). */
function machineWithUd2(ud2 = true): Machine {
  const m = new Machine({ cpus: 1 });
  const code = new Uint8Array(ud2 ? [0x0f, 0x0b, 0xc3] : [0xc3]);
  m.map({ address: 0x1000n, data: code, size: code.length, perms: PERM_RX });
  return m;
}

Deno.test("HostCpus: handled traps, and faults inside the trap handler", async (t) => {
  await t.step("a handled trap costs TRAP_COST instructions of budget", () => {
    const cpus = new HostCpus(machineWithUd2(), {
      onFault: (c) => (c.setRip(c.getRip() + 2n), true), // skip the ud2, as a WARN frame does
    });
    assert.equal(cpus.call(0, 0x1000n), 0n);
    const plain = new HostCpus(machineWithUd2(false));
    plain.call(0, 0x1000n);
    assert.equal(cpus.retired, plain.retired + TRAP_COST); // the same returns, plus the trap
  });
  await t.step("a fault while handling a fault takes the host down", () => {
    const cpus = new HostCpus(machineWithUd2(), {
      onFault: () => {
        throw new CpuFault("PAGE_FAULT", "read of unmapped memory at 0x10");
      },
    });
    assert.throws(() => cpus.call(0, 0x1000n), (e: unknown) => {
      assert.ok(e instanceof HypervisorCrash, String(e));
      assert.equal(e.fault.code, "PAGE_FAULT");
      return true;
    });
  });
});
