import assert from "node:assert/strict";
import { branchesIntoPatch, findStackHazards } from "./mod.ts";

Deno.test("branchesIntoPatch: only targets strictly inside the overwritten bytes count", async (t) => {
  const f = { oldAddr: 0x1000n, oldSize: 16, newAddr: 0x9000n, newSize: 4 };
  await t.step("a loop back to +2 lands inside the 5-byte jump", () => {
    // 0: nop; 1: nop; 2: nop; 3: dec eax; 5: jne 2 (75 fb); 7..: nops; ret
    const code = new Uint8Array([
      0x90,
      0x90,
      0x90,
      0xff,
      0xc8,
      0x75,
      0xfb,
      0x90,
      0x90,
      0x90,
      0x90,
      0x90,
      0x90,
      0x90,
      0x90,
      0xc3,
    ]);
    assert.deepEqual(branchesIntoPatch(f, code, true), [{ from: 0x1005n, to: 0x1002n }]);
  });
  await t.step("a branch to the start (the jump itself) or past the patch is fine", () => {
    // 0..4: nops; 5: jne 0 (75 f9); 7: jmp 9 (eb 00); 9..: nops; ret
    const code = new Uint8Array([
      0x90,
      0x90,
      0x90,
      0x90,
      0x90,
      0x75,
      0xf9,
      0xeb,
      0x00,
      0x90,
      0x90,
      0x90,
      0x90,
      0x90,
      0x90,
      0xc3,
    ]);
    assert.deepEqual(branchesIntoPatch(f, code, true), []);
  });
  await t.step("after an ENDBR64 the patch starts at +4", () => {
    // endbr64; 4: nop; 5: nop; 6: jmp 4 (eb fc) -> start of the patch: fine; 8: jmp 6 (eb fc) -> inside
    const code = new Uint8Array([
      0xf3,
      0x0f,
      0x1e,
      0xfa,
      0x90,
      0x90,
      0xeb,
      0xfc,
      0xeb,
      0xfc,
      0x90,
      0x90,
      0x90,
      0x90,
      0x90,
      0xc3,
    ]);
    assert.deepEqual(branchesIntoPatch(f, code, true), [{ from: 0x1008n, to: 0x1006n }]);
  });
});

Deno.test("findStackHazards: the exact chain and the stack scan both count, once each", () => {
  const ranges = [{ start: 0x1000n, end: 0x1010n, name: "victim" }];
  const hazards = findStackHazards(ranges, [
    { cpu: 0, chain: [0x5000n, 0x1004n], scan: [{ slot: 0x8000n, address: 0x1004n }] },
    {
      cpu: 1,
      chain: [0x5000n],
      scan: [{ slot: 0x8010n, address: 0x100fn }, { slot: 0x8018n, address: 0x1010n }],
    },
    { cpu: 2, chain: [0x0fffn], scan: [] },
  ], (a) => `f+0x${a.toString(16)}`);
  assert.deepEqual(hazards.map((h) => [h.cpu, h.source, h.address]), [
    [0, "call chain", 0x1004n],
    [1, "stack scan", 0x100fn],
  ]);
  assert.equal(hazards[1].slot, 0x8010n);
});
