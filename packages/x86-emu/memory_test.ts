import assert from "node:assert/strict";
import { CpuFault, Machine, Memory, PERM_R, PERM_RW, PERM_RX, PERM_X } from "./mod.ts";

const XEN = 0xffff82d040200000n;

function fault(fn: () => unknown): CpuFault {
  try {
    fn();
  } catch (e) {
    if (e instanceof CpuFault) return e;
    throw e;
  }
  assert.fail("expected a CpuFault");
}

Deno.test("memory: sparse 64-bit pages, reads and writes across page boundaries", async (t) => {
  const m = new Memory();
  m.map(XEN, 8192, PERM_RW);
  await t.step("a u64 straddling two pages", () => {
    m.writeU64(XEN + 0xffcn, 0x1122334455667788n);
    assert.equal(m.readU64(XEN + 0xffcn), 0x1122334455667788n);
    assert.deepEqual([...m.read(XEN + 0xffcn, 4)], [0x88, 0x77, 0x66, 0x55]);
  });
  await t.step("guest accessors at the boundary", () => {
    const a = -0x7d2fbfe00000 + 0xfff; // canonical number of XEN + 0xfff
    m.wr32(a, 0xdeadbeef);
    assert.equal(m.rd32(a), 0xdeadbeef);
    assert.equal(m.rd8(a + 3), 0xde);
    m.wr64(a - 3, 0x01020304, 0x05060708);
    assert.equal(m.rd64(a - 3), 0x01020304);
    assert.equal(m.hi, 0x05060708);
  });
  await t.step("sparse: far-apart pages, unmapped in between", () => {
    m.map(0x1000n, 4096, PERM_RW);
    assert.equal(m.pageCount, 3);
    const f = fault(() => m.read(0x2000n, 1));
    assert.equal(f.code, "PAGE_FAULT");
    assert.equal(f.address, 0x2000n);
    assert.equal(f.access, "read");
  });
  await t.step("mapRegion zero-fills past the data (.bss)", () => {
    m.mapRegion({ address: 0x10000n, data: new Uint8Array([1, 2, 3]), size: 8, perms: PERM_R });
    assert.deepEqual([...m.read(0x10000n, 8)], [1, 2, 3, 0, 0, 0, 0, 0]);
  });
  await t.step("readCString", () => {
    m.write(0x1000n, new TextEncoder().encode("xen\0junk"));
    assert.equal(m.readCString(0x1000n), "xen");
    assert.equal(m.readCString(0x1000n, 2), "xe");
  });
  await t.step("unmap", () => {
    m.unmap(0x1000n, 4096);
    assert.equal(fault(() => m.read(0x1000n, 1)).code, "PAGE_FAULT");
  });
});

Deno.test("memory: permissions are enforced for guest accesses, not for the host", async (t) => {
  const m = new Memory();
  m.map(0x1000n, 4096, PERM_R);
  m.map(0x2000n, 4096, PERM_X);
  await t.step("guest write to a read-only page faults with the address", () => {
    const f = fault(() => m.wr32(0x1010, 5));
    assert.equal(f.code, "PAGE_FAULT");
    assert.equal(f.access, "write");
    assert.equal(f.address, 0x1010n);
    assert.match(f.message, /write of a page without write permission at 0x1010/);
  });
  await t.step("guest read of an execute-only page faults", () => {
    assert.equal(fault(() => m.rd8(0x2000)).access, "read");
  });
  await t.step("host writes ignore permissions (loader, live patcher)", () => {
    m.write(0x1010n, new Uint8Array([9]));
    assert.equal(m.rd8(0x1010), 9);
  });
  await t.step("a write straddling into a read-only page changes nothing", () => {
    m.map(0x3000n, 4096, PERM_RW);
    m.map(0x4000n, 4096, PERM_R);
    assert.equal(fault(() => m.wr64(0x3ffc, 0x11111111, 0x22222222)).access, "write");
    assert.deepEqual([...m.read(0x3ffcn, 4)], [0, 0, 0, 0]);
  });
  await t.step("protect takes effect at once, also in the fast TLB", () => {
    m.wr8(0x3000, 1); // the page is now in the write TLB
    m.protect(0x3000n, 4096, PERM_R);
    assert.equal(fault(() => m.wr8(0x3000, 2)).code, "PAGE_FAULT");
    assert.equal(m.permissions(0x3000n), PERM_R);
    assert.equal(m.permissions(0x9000n), 0);
  });
  await t.step("non-canonical addresses raise #GP", () => {
    assert.equal(fault(() => m.rd8(NaN)).code, "GP");
    assert.equal(fault(() => m.read(0x0000800000000000n, 1)).code, "GP");
  });
});

Deno.test("memory: page faults from running code, with the faulting instruction", async (t) => {
  for (const jit of [false, { threshold: 1 }] as const) {
    await t.step(jit === false ? "interpreter" : "block compiler", () => {
      const m = new Machine({ cpus: 1, jit });
      const code = 0x400000n, data = 0x600000n;
      // 0: mov eax, [rdi]; 2: mov [rsi], eax; 4: ret
      m.map({
        address: code,
        data: new Uint8Array([0x8b, 0x07, 0x89, 0x06, 0xc3]),
        size: 5,
        perms: PERM_RX,
      });
      m.map({ address: data, data: new Uint8Array([7, 0, 0, 0]), size: 4096, perms: PERM_R });
      m.map({ address: data + 0x1000n, data: new Uint8Array(0), size: 4096, perms: PERM_RW });
      // Warm up so the block compiler has compiled the function.
      for (let k = 0; k < 3; k++) m.call(0, code, [data, data + 0x1000n]);
      assert.equal(m.memory.readU64(data + 0x1000n), 7n);
      if (jit !== false) assert.ok(m.cpus[0]!.jit!.compiled > 0, "compiled code ran");
      const unmapped = fault(() => m.call(0, code, [0x900000n, data + 0x1000n]));
      assert.equal(unmapped.code, "PAGE_FAULT");
      assert.equal(unmapped.access, "read");
      assert.equal(unmapped.address, 0x900000n);
      assert.equal(unmapped.rip, code);
      const ro = fault(() => m.call(0, code, [data, data]));
      assert.equal(ro.access, "write");
      assert.equal(ro.address, data);
      assert.equal(ro.rip, code + 2n);
      assert.equal(m.cpus[0]!.getRip(), code + 2n, "rip stays at the faulting instruction");
      assert.equal(m.cpus[0]!.getReg("rax"), 7n, "the load before the fault happened");
      const nx = fault(() => m.call(0, data + 0x1000n));
      assert.equal(nx.access, "execute");
      assert.equal(nx.address, data + 0x1000n);
    });
  }
});
