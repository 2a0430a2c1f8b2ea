import assert from "node:assert/strict";
import { PERM_RWX } from "./mod.ts";
import { JIT_MODES, snippet, SNIPPET_CODE as CODE } from "./_testing.ts";

// f at +0: mov eax, 1; ret
// patcher at +0x20: mov dword [rdi], esi; ret   (cpu0 rewrites f's first 4 bytes)
// serialize at +0x40: cpuid; ret
// g at +0x60: mov eax, 2; ret
function code(): number[] {
  const c = new Array(0x80).fill(0x90);
  const put = (at: number, b: number[]) => b.forEach((x, k) => (c[at + k] = x));
  put(0x00, [0xb8, 0x01, 0x00, 0x00, 0x00, 0xc3]);
  put(0x20, [0x89, 0x37, 0xc3]);
  put(0x40, [0x0f, 0xa2, 0xc3]);
  put(0x60, [0xb8, 0x02, 0x00, 0x00, 0x00, 0xc3]);
  return c;
}
// mov eax, 3 split in a 4-byte store: b8 03 00 00 | 00 (the last imm byte is already 0)
const NEW_BYTES = 0x000003b8n;

Deno.test("xmc: strict mode lets other CPUs run stale code until they serialize", async (t) => {
  for (const [label, jit] of JIT_MODES) {
    await t.step(label, () => {
      const m = snippet(code(), { cpus: 2, xmc: "strict", jit });
      m.memory.protect(CODE, 4096, PERM_RWX);
      for (let k = 0; k < 3; k++) assert.equal(m.call(1, CODE), 1n); // cpu1 has f decoded
      m.call(0, CODE + 0x20n, [CODE, NEW_BYTES]); // cpu0 patches f without any IPI
      assert.equal(m.call(0, CODE), 3n, "the writer sees its own store");
      assert.equal(m.hazards.length, 0);
      const before = m.timeNs(1);
      assert.equal(m.call(1, CODE), 1n, "cpu1 still runs the stale instruction");
      assert.equal(m.hazards.length, 1);
      const h = m.hazards[0]!;
      assert.equal(h.cpu, 1);
      assert.equal(h.address, CODE);
      assert.deepEqual([...h.stale], [0xb8, 1, 0, 0, 0]);
      assert.deepEqual([...h.current], [0xb8, 3, 0, 0, 0]);
      assert.equal(
        h.timeNs,
        before,
        "stamped when the stale instruction ran (the first of the call)",
      );
      m.call(1, CODE + 0x40n); // cpuid serializes
      assert.equal(m.call(1, CODE), 3n, "after serializing cpu1 sees the new code");
      assert.equal(m.hazards.length, 1, "no further hazard");
    });
  }
});

Deno.test("xmc: coherent mode (default) shows writes to every CPU at once", () => {
  const m = snippet(code(), { cpus: 2 });
  m.memory.protect(CODE, 4096, PERM_RWX);
  for (let k = 0; k < 3; k++) m.call(1, CODE);
  m.call(0, CODE + 0x20n, [CODE, NEW_BYTES]);
  assert.equal(m.call(1, CODE), 3n);
  assert.equal(m.hazards.length, 0);
});

Deno.test("xmc: a host patch is stale for every CPU; rewriting identical bytes is no hazard", () => {
  const m = snippet(code(), { cpus: 2, xmc: "strict" });
  for (let k = 0; k < 3; k++) {
    m.call(0, CODE);
    m.call(1, CODE);
  }
  m.memory.write(CODE, new Uint8Array([0xb8, 1, 0, 0, 0])); // same bytes
  assert.equal(m.call(0, CODE), 1n);
  assert.equal(m.hazards.length, 0);
  m.memory.write(CODE, new Uint8Array([0xe9, 0x5b, 0x00, 0x00, 0x00])); // jmp g
  assert.equal(m.call(0, CODE), 1n);
  assert.equal(m.call(1, CODE), 1n);
  assert.deepEqual(m.hazards.map((h) => h.cpu), [0, 1]);
  for (const k of [0, 1]) m.call(k, CODE + 0x40n);
  assert.equal(m.call(0, CODE), 2n);
  assert.equal(m.call(1, CODE), 2n);
});
