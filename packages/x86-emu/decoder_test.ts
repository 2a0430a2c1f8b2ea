import assert from "node:assert/strict";
import * as iced from "iced-x86";
import {
  CpuFault,
  decodeBytes,
  IMPL_BY_DESIGN,
  IMPL_NO,
  IMPL_YES,
  Machine,
  mnemonicName,
  PERM_RWX,
  PERM_RX,
} from "./mod.ts";
import { Prng } from "./scheduler.ts";

const CODE = 0x400000n;
const MODES = [["interpreter", false], ["block compiler", { threshold: 1 }]] as const;

function wasmBytes(): number {
  return (iced as unknown as {
    __wasm: WebAssembly.Instance["exports"] & { memory: WebAssembly.Memory };
  })
    .__wasm.memory.buffer.byteLength;
}

Deno.test("decoder: compact records without wasm objects", async (t) => {
  await t.step("fields of a RIP-relative lea and a branch", () => {
    // lea rax, [rip + 0x16ba18] at xen_extra_version
    const lea = decodeBytes(
      new Uint8Array([0x48, 0x8d, 0x05, 0x18, 0xba, 0x16, 0x00]),
      0xffff82d040234b20n,
    );
    assert.equal(mnemonicName(lea.mnemonic), "Lea");
    assert.equal(lea.len, 7);
    assert.equal(lea.mem!.ripRel, true);
    assert.equal(
      BigInt.asUintN(64, BigInt(lea.mem!.dispHi) << 32n | BigInt(lea.mem!.dispLo)),
      0xffff82d0403a053fn,
    );
    const jmp = decodeBytes(new Uint8Array([0xe9, 0xf4, 0xe5, 0xfc, 0xff]), 0xffff82d040234b27n);
    assert.equal(BigInt.asUintN(64, BigInt(jmp.target)), 0xffff82d040203120n); // __x86_return_thunk
    for (const v of [...Object.values(lea), ...lea.ops.flatMap((o) => Object.values(o))]) {
      assert.ok(!(v instanceof iced.Instruction), "no iced object is kept in a record");
    }
  });
  await t.step("implementation status", () => {
    assert.equal(decodeBytes(new Uint8Array([0x48, 0x01, 0xd8]), 0n).impl, IMPL_YES); // add rax, rbx
    assert.equal(decodeBytes(new Uint8Array([0x0f, 0x78, 0xc8]), 0n).impl, IMPL_BY_DESIGN); // vmread
    assert.equal(decodeBytes(new Uint8Array([0x0f, 0x0b]), 0n).impl, IMPL_YES); // ud2 is an event
    assert.equal(decodeBytes(new Uint8Array([0x06]), 0n).impl, IMPL_NO); // invalid in 64-bit mode
  });
});

Deno.test("decoder: the cache decodes once per address", () => {
  const m = new Machine({ cpus: 1, jit: false });
  // mov eax, 5; ret
  m.map({ address: CODE, data: new Uint8Array([0xb8, 5, 0, 0, 0, 0xc3]), size: 6, perms: PERM_RX });
  m.call(0, CODE);
  const page = m.memory.page(0x400000)!;
  const rec = page.code![0];
  assert.ok(rec !== undefined);
  m.call(0, CODE);
  assert.equal(page.code![0], rec, "the same record is reused");
  assert.equal(page.code![5]?.len, 1, "the ret was decoded in the same run");
});

Deno.test("decoder: writes to code invalidate exactly the overlapping records", async (t) => {
  for (const [label, jit] of MODES) {
    await t.step(label, () => {
      const m = new Machine({ cpus: 1, jit });
      // 0: mov eax, 1; 5: nop; 6: ret
      m.map({
        address: CODE,
        data: new Uint8Array([0xb8, 1, 0, 0, 0, 0x90, 0xc3]),
        size: 4096,
        perms: PERM_RWX,
      });
      for (let k = 0; k < 4; k++) assert.equal(m.call(0, CODE), 1n);
      const page = m.memory.page(0x400000)!;
      const nop = page.code![5];
      m.memory.write(CODE + 1n, new Uint8Array([2])); // the immediate of the mov
      assert.equal(page.code![0], undefined, "the mov was dropped");
      assert.equal(page.code![5], nop, "the nop was not");
      assert.equal(m.call(0, CODE), 2n, "the new bytes run");
      // A guest store into the code has the same effect: mov byte [rdi], 3; ret at +0x100
      m.memory.write(CODE + 0x100n, new Uint8Array([0xc6, 0x07, 0x03, 0xc3]));
      for (let k = 0; k < 3; k++) m.call(0, CODE + 0x100n, [CODE + 1n]);
      assert.equal(m.call(0, CODE), 3n);
    });
  }
});

Deno.test("decoder: an instruction straddling two pages is invalidated by a write to either", () => {
  const m = new Machine({ cpus: 1, jit: { threshold: 1 } });
  m.map({ address: CODE, data: new Uint8Array(0), size: 8192, perms: PERM_RWX });
  // mov eax, imm32 at 0xffd: b8 on the first page, the immediate's last bytes on the second
  m.memory.write(CODE + 0xffdn, new Uint8Array([0xb8, 1, 0, 0, 0, 0xc3]));
  for (let k = 0; k < 3; k++) assert.equal(m.call(0, CODE + 0xffdn), 1n);
  m.memory.write(CODE + 0x1001n, new Uint8Array([0x10])); // byte 4 of the mov
  assert.equal(m.call(0, CODE + 0xffdn), 0x10000001n);
});

Deno.test("decoder: AMD decoding is selected by the CPU vendor (66 e9 rel16)", async (t) => {
  const bytes = new Uint8Array([0x66, 0xe9, 0x10, 0x00, 0x00, 0x00]);
  await t.step("record lengths", () => {
    assert.equal(decodeBytes(bytes, 0x1000n).len, 6, "Intel: the 66 is ignored, rel32");
    assert.equal(decodeBytes(bytes, 0x1000n, iced.DecoderOptions.AMD).len, 4, "AMD: rel16");
  });
  await t.step("execution", () => {
    for (const vendor of ["intel", "amd"] as const) {
      const m = new Machine({ cpus: 1, model: { vendor } });
      m.map({ address: 0x1fff0n, data: bytes, size: 16, perms: PERM_RX });
      m.cpus[0]!.setRip(0x1fff0n);
      try {
        m.cpus[0]!.run(1);
      } catch (e) {
        assert.ok(e instanceof CpuFault);
      }
      // Intel: rel32 from the end of the 6 bytes; AMD: rel16 from the end of the 4 bytes, and
      // a 16-bit operand size truncates the new rip to 16 bits.
      const want = vendor === "amd" ? 0x0004n : 0x20006n;
      assert.equal(m.cpus[0]!.getRip(), want, vendor);
    }
  });
});

Deno.test("decoder: wasm memory stays bounded across many decodes and evictions", () => {
  const m = new Machine({ cpus: 1, jit: { threshold: 2 } });
  m.map({ address: CODE, data: new Uint8Array(0), size: 0x10000, perms: PERM_RWX });
  const rng = new Prng(9);
  const round = (n: number) => {
    for (let k = 0; k < n; k++) {
      // A fresh function each time: mov eax, imm32; add eax, imm32; ret, at a moving address.
      const off = BigInt((k * 16) % 0xff00);
      const a = rng.next(), b = rng.next();
      const code = new Uint8Array([0xb8, 0, 0, 0, 0, 0x05, 0, 0, 0, 0, 0xc3]);
      new DataView(code.buffer).setUint32(1, a, true);
      new DataView(code.buffer).setUint32(6, b, true);
      m.memory.write(CODE + off, code); // evicts what was decoded there
      const got = m.call(0, CODE + off);
      assert.equal(got, BigInt((a + b) >>> 0));
      m.call(0, CODE + off);
      m.call(0, CODE + off);
    }
  };
  round(500); // let the allocator reach its steady state
  const before = wasmBytes();
  round(5000);
  assert.equal(wasmBytes(), before, "wasm memory did not grow");
});

Deno.test("decoder: random bytes never crash the emulator (only CPU faults)", async (t) => {
  for (const [label, jit] of MODES) {
    await t.step(label, () => {
      const rng = new Prng(20261203);
      let faults = 0, ran = 0;
      for (let round = 0; round < 150; round++) {
        const m = new Machine({ cpus: 1, jit });
        const code = new Uint8Array(256);
        for (let k = 0; k < code.length; k++) code[k] = rng.below(256);
        m.map({ address: CODE, data: code, size: 4096, perms: PERM_RWX });
        m.map({ address: 0x0n, data: new Uint8Array(0), size: 0x10000, perms: 3 });
        for (let rep = 0; rep < 3; rep++) {
          const c = m.cpus[0]!;
          c.setRip(CODE + BigInt(rng.below(64)));
          for (const r of ["rax", "rbx", "rcx", "rdx", "rsi", "rdi"] as const) {
            c.setReg(r, BigInt(rng.below(0x8000)));
          }
          try {
            ran += c.run(200);
          } catch (e) {
            if (!(e instanceof CpuFault)) throw e;
            assert.ok(e.message.length > 0 && !e.message.includes("\n"));
            faults++;
          }
        }
      }
      assert.ok(faults > 0 && ran > 0);
    });
  }
});
