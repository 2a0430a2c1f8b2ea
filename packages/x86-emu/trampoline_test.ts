import assert from "node:assert/strict";
import {
  decodeBytes,
  decodeJmpRel32,
  EmuError,
  encodeJmpRel32,
  ENDBR64,
  ENDBR64_POISON,
  functionEntryKind,
  jmpRel32Displacement,
  jmpRel32Reaches,
  patchOffset,
} from "./mod.ts";
import { expectFault, JIT_MODES, snippet, SNIPPET_CODE as CODE } from "./_testing.ts";

const XEN = 0xffff82d040200000n;
const U64 = (v: bigint) => BigInt.asUintN(64, v);

Deno.test("trampoline: e9 rel32 encode/decode with iced's Encoder", () => {
  for (
    const [from, to] of [
      [XEN, XEN + 0x100000n],
      [XEN + 0x100000n, XEN],
      [0x10n, U64(0x15n - (1n << 31n))], // wraps below 0 to the top of the address space
    ]
  ) {
    const b = encodeJmpRel32(from, to);
    assert.equal(b.length, 5);
    assert.equal(b[0], 0xe9);
    assert.equal(decodeJmpRel32(b, from), to);
    assert.equal(U64(BigInt(decodeBytes(b, from).target)), to, "iced agrees");
  }
  assert.deepEqual([...encodeJmpRel32(XEN, XEN + 0x100000n)], [0xe9, 0xfb, 0xff, 0x0f, 0x00]);
  assert.equal(
    decodeJmpRel32(new Uint8Array([0xe8, 0, 0, 0, 0]), XEN),
    null,
    "a call is not a jmp",
  );
  assert.equal(decodeJmpRel32(new Uint8Array([0xe9, 0]), XEN), null, "too short");
});

Deno.test("trampoline: reach is exact at the rel32 boundaries", () => {
  const from = XEN + 0x1000n;
  const end = from + 5n;
  const cases: [bigint, boolean][] = [
    [end + (1n << 31n) - 1n, true], // rel32 = 2^31 - 1
    [end + (1n << 31n), false], // one byte beyond
    [end - (1n << 31n), true], // rel32 = -2^31
    [end - (1n << 31n) - 1n, false],
  ];
  for (const [to, ok] of cases) {
    assert.equal(jmpRel32Reaches(from, to), ok, `to 0x${to.toString(16)}`);
    assert.equal(jmpRel32Displacement(from, to) !== null, ok);
    if (ok) {
      const b = encodeJmpRel32(from, to);
      assert.equal(decodeJmpRel32(b, from), to);
      assert.equal(U64(BigInt(decodeBytes(b, from).target)), to);
    } else {
      const e = expectFault(() => encodeJmpRel32(from, to), EmuError);
      assert.equal(e.code, "OUT_OF_REACH");
    }
  }
  assert.equal(jmpRel32Displacement(from, end + (1n << 31n) - 1n), (1n << 31n) - 1n);
  assert.equal(jmpRel32Displacement(from, end - (1n << 31n)), -(1n << 31n));
});

Deno.test("trampoline: endbr64 and its poison move the patch point by 4", () => {
  assert.equal(functionEntryKind(ENDBR64), "endbr64");
  assert.equal(functionEntryKind(ENDBR64_POISON), "endbr64-poison");
  assert.equal(functionEntryKind(new Uint8Array([0xf3, 0x0f, 0x1e])), "plain", "truncated");
  assert.equal(patchOffset(new Uint8Array([...ENDBR64, 0x55])), 4);
  assert.equal(patchOffset(new Uint8Array([...ENDBR64_POISON, 0x55])), 4);
  assert.equal(patchOffset(new Uint8Array([0x55])), 0);
  assert.equal(decodeBytes(ENDBR64_POISON, 0n).len, 4, "the poison is a 4-byte nopw (%rcx)");
});

Deno.test("trampoline: a patched function runs the replacement", async (t) => {
  // f: endbr64; mov eax, 1; ret   g at +0x40: mov eax, 2; ret   caller at +0x80: call f; ret
  const code = new Array(0x100).fill(0xcc);
  [...ENDBR64, 0xb8, 1, 0, 0, 0, 0xc3].forEach((b, k) => (code[k] = b));
  [0xb8, 2, 0, 0, 0, 0xc3].forEach((b, k) => (code[0x40 + k] = b));
  [0xe8, 0x7b, 0xff, 0xff, 0xff, 0xc3].forEach((b, k) => (code[0x80 + k] = b));
  for (const [label, jit] of JIT_MODES) {
    await t.step(label, () => {
      const m = snippet(code, { jit });
      for (let k = 0; k < 3; k++) assert.equal(m.call(0, CODE + 0x80n), 1n);
      const at = CODE + BigInt(patchOffset(m.memory.read(CODE, 8)));
      m.memory.write(at, encodeJmpRel32(at, CODE + 0x40n));
      assert.equal(m.call(0, CODE + 0x80n), 2n, "the endbr64 runs, then the trampoline");
      assert.deepEqual([...m.memory.read(CODE, 4)], [...ENDBR64], "the landing pad is intact");
    });
  }
});
