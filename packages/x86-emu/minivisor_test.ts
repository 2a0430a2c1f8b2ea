// The example minivisor (examples/bin/minivisor): its sort() is Xen's lib/sort.c heapsort with
// cmp/swap callbacks called through retpolines; here they are host functions.
import assert from "node:assert/strict";
import { parseElf } from "@lpkit/elf";
import { loadImage, Machine, PERM_RW } from "./mod.ts";
import { Prng } from "./scheduler.ts";
import { JIT_MODES } from "./_testing.ts";

const IMAGE = new URL("../../examples/bin/minivisor", import.meta.url);
const BUF = 0xffff830001000000n;

Deno.test("minivisor: sort() with a host comparator and a host swap", async (t) => {
  const elf = parseElf(Deno.readFileSync(IMAGE));
  for (const [label, jit] of JIT_MODES) {
    await t.step(label, () => {
      const m = new Machine({ cpus: 1, jit });
      loadImage(m, elf);
      m.map({ address: BUF, data: new Uint8Array(0), size: 0x10000, perms: PERM_RW });
      const u32 = (a: bigint) => m.memory.rd32(Number(BigInt.asIntN(64, a)));
      let compares = 0, swaps = 0;
      const ascending = m.hostFunction((c) => {
        compares++;
        const x = u32(c.getReg("rdi")), y = u32(c.getReg("rsi"));
        return BigInt.asUintN(64, BigInt(x < y ? -1 : x > y ? 1 : 0));
      });
      const descending = m.hostFunction((c) => {
        const x = u32(c.getReg("rdi")), y = u32(c.getReg("rsi"));
        return BigInt.asUintN(64, BigInt(x > y ? -1 : x < y ? 1 : 0));
      });
      const swap = m.hostFunction((c) => {
        swaps++;
        assert.equal(c.getReg("rdx"), 4n, "the element size");
        const a = c.getReg("rdi"), b = c.getReg("rsi");
        const x = m.memory.read(a, 4), y = m.memory.read(b, 4);
        m.memory.write(a, y);
        m.memory.write(b, x);
      });
      const rng = new Prng(12);
      for (const n of [0, 1, 2, 5, 64, 300]) {
        for (
          const [cmp, sw, order] of [[ascending, 0n, 1], [descending, swap, -1], [
            ascending,
            swap,
            1,
          ]] as const
        ) {
          const values = Array.from({ length: n }, () => rng.below(n < 10 ? 4 : 1000));
          const dv = new DataView(new ArrayBuffer(4 * n));
          values.forEach((v, k) => dv.setUint32(4 * k, v, true));
          m.memory.write(BUF, new Uint8Array(dv.buffer));
          m.call(0, "sort", [BUF, BigInt(n), 4n, cmp, sw]);
          const out = new DataView(m.memory.read(BUF, 4 * n).buffer);
          const got = Array.from({ length: n }, (_, k) => out.getUint32(4 * k, true));
          assert.deepEqual(got, values.sort((a, b) => (a - b) * order), `n=${n}`);
        }
      }
      assert.ok(compares > 1000 && swaps > 100);
      assert.equal(m.cpus[0]!.calls.frames.length, 0);
    });
  }
});
