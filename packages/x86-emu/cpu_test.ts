// Instruction semantics that the differential tests cannot reach natively (system instructions,
// events, faults), each in the interpreter and in compiled blocks.
import assert from "node:assert/strict";
import {
  CpuFault,
  FLAG_DF,
  FLAG_IF,
  Machine,
  MSR_FS_BASE,
  MSR_GS_BASE,
  MSR_KERNEL_GS_BASE,
} from "./mod.ts";
import {
  expectFault,
  JIT_MODES,
  snippet,
  SNIPPET_CODE as CODE,
  SNIPPET_DATA as DATA,
} from "./_testing.ts";

/** Call the snippet a few times so compiled blocks run too; return the last result. */
function run(m: Machine, args: bigint[] = [], times = 3): bigint {
  let r = 0n;
  for (let k = 0; k < times; k++) r = m.call(0, CODE, args);
  return r;
}

const RET = 0xc3;
// shl rdx, 32; or rax, rdx (edx:eax -> rax)
const EDX_EAX = [0x48, 0xc1, 0xe2, 0x20, 0x48, 0x09, 0xd0];

Deno.test("cpu: cpuid answers with the configured vendor", async (t) => {
  // xor eax, eax; cpuid; mov [rdi], ebx; mov [rdi+4], edx; mov [rdi+8], ecx; ret
  const code = [0x31, 0xc0, 0x0f, 0xa2, 0x89, 0x1f, 0x89, 0x57, 0x04, 0x89, 0x4f, 0x08, RET];
  for (const [label, jit] of JIT_MODES) {
    await t.step(label, () => {
      for (const [vendor, name] of [["intel", "GenuineIntel"], ["amd", "AuthenticAMD"]] as const) {
        const m = snippet(code, { jit, model: { vendor } });
        run(m, [DATA]);
        assert.equal(new TextDecoder().decode(m.memory.read(DATA, 12)), name);
      }
    });
  }
  await t.step("leaf overrides", () => {
    const m = snippet(code, {
      model: { leaves: { "0": { eax: 1, ebx: 0x41414141, ecx: 0, edx: 0 } } },
    });
    run(m, [DATA]);
    assert.equal(m.memory.readCString(DATA), "AAAA");
  });
});

Deno.test("cpu: rdtsc counts simulated cycles at the instruction", async (t) => {
  // 10 x nop; rdtsc; edx:eax -> rax; ret
  const code = [...new Array(10).fill(0x90), 0x0f, 0x31, ...EDX_EAX, RET];
  for (const [label, jit] of JIT_MODES) {
    await t.step(label, () => {
      const m = snippet(code, { jit, cyclesPerInstruction: 3, clockHz: 1e9 });
      for (let k = 0; k < 4; k++) {
        const before = m.cpus[0]!.icount;
        const tsc = m.call(0, CODE);
        assert.equal(tsc, BigInt((before + 10) * 3), "10 nops retired before the rdtsc");
        assert.equal(m.cpus[0]!.icount, before + 10 + 1 + 3, "nops, rdtsc, shl, or, ret");
      }
      assert.equal(m.timeNs(0), m.cpus[0]!.icount * 3, "3 cycles per instruction at 1 GHz");
      assert.equal(m.nowNs(), m.timeNs(0));
    });
  }
});

Deno.test("cpu: rdmsr/wrmsr model", async (t) => {
  // mov ecx, edi; rdmsr; edx:eax -> rax; ret
  const rd = [0x89, 0xf9, 0x0f, 0x32, ...EDX_EAX, RET];
  // mov ecx, edi; mov rax, rsi; mov rdx, rsi; shr rdx, 32; wrmsr; ret
  const wr = [
    0x89,
    0xf9,
    0x48,
    0x89,
    0xf0,
    0x48,
    0x89,
    0xf2,
    0x48,
    0xc1,
    0xea,
    0x20,
    0x0f,
    0x30,
    RET,
  ];
  for (const [label, jit] of JIT_MODES) {
    await t.step(label, () => {
      const m = snippet([...rd, ...wr], { jit });
      const wrAt = CODE + BigInt(rd.length);
      assert.equal(run(m, [0xc0000080n]), 0xd01n, "EFER: SCE LME LMA NXE");
      m.call(0, wrAt, [0x1234n, 0xdeadbeefcafef00dn]);
      assert.equal(run(m, [0x1234n]), 0xdeadbeefcafef00dn);
      const gp = expectFault(() => m.call(0, CODE, [0x999n]), CpuFault);
      assert.equal(gp.code, "GP");
      assert.match(gp.message, /rdmsr of unknown MSR 0x999/);
      assert.equal(gp.rip, CODE + 2n);
      // FS base through the MSR
      m.call(0, wrAt, [BigInt(MSR_FS_BASE), 0xffff830000001000n]);
      assert.equal(m.cpus[0]!.fsBase, -0x7cfffffff000);
      assert.equal(run(m, [BigInt(MSR_FS_BASE)]), 0xffff830000001000n);
      assert.equal(
        expectFault(() => m.call(0, wrAt, [BigInt(MSR_GS_BASE), 1n << 60n]), CpuFault).code,
        "GP",
      );
      // swapgs exchanges GS_BASE with KERNEL_GS_BASE; both read back through rdmsr
      m.call(0, wrAt, [BigInt(MSR_KERNEL_GS_BASE), 0xffff830000002000n]);
      m.cpus[0]!.gsBase = 0;
      m.memory.write(CODE + 0x80n, new Uint8Array([0x0f, 0x01, 0xf8, RET])); // swapgs; ret
      m.call(0, CODE + 0x80n);
      assert.equal(run(m, [BigInt(MSR_GS_BASE)]), 0xffff830000002000n);
      assert.equal(run(m, [BigInt(MSR_KERNEL_GS_BASE)]), 0n);
    });
  }
  await t.step("host hooks override and refuse", () => {
    const m = snippet([...rd, ...wr]);
    m.cpus[0]!.hooks.rdmsr = (_c, idx) => (idx === 0x10 ? 42n : undefined);
    m.cpus[0]!.hooks.wrmsr = (_c, idx) => idx !== 0x48;
    assert.equal(run(m, [0x10n]), 42n);
    const wrAt = CODE + BigInt(rd.length);
    assert.equal(expectFault(() => m.call(0, wrAt, [0x48n, 1n]), CpuFault).code, "GP");
    m.call(0, wrAt, [0x49n, 1n]);
    assert.equal(m.cpus[0]!.msrs.get(0x49), 1n);
  });
});

Deno.test("cpu: swapgs, fs/gs bases and segment-relative accesses", async (t) => {
  // mov rax, gs:[rdi]; ret | swapgs; ret | wrfsbase rdi; mov rax, fs:[8]; ret | rdfsbase rax; ret
  const gsLoad = [0x65, 0x48, 0x8b, 0x07, RET];
  const swap = [0x0f, 0x01, 0xf8, RET];
  const fs = [0xf3, 0x48, 0x0f, 0xae, 0xd7, 0x64, 0x48, 0x8b, 0x04, 0x25, 8, 0, 0, 0, RET];
  const rdfs = [0xf3, 0x48, 0x0f, 0xae, 0xc0, RET];
  const code = [...gsLoad, ...swap, ...fs, ...rdfs];
  const at = (k: number) => CODE + BigInt([0, gsLoad.length, gsLoad.length + swap.length][k]!);
  const rdfsAt = CODE + BigInt(gsLoad.length + swap.length + fs.length);
  for (const [label, jit] of JIT_MODES) {
    await t.step(label, () => {
      const m = snippet(code, { jit });
      const c = m.cpus[0]!;
      m.memory.writeU64(DATA + 0x100n, 0x1111n);
      m.memory.writeU64(DATA + 0x208n, 0x2222n);
      c.gsBase = Number(DATA);
      c.kernelGsBase = Number(DATA + 0x108n - 0x8n);
      for (let k = 0; k < 3; k++) assert.equal(m.call(0, at(0), [0x100n]), 0x1111n);
      m.call(0, at(1));
      assert.equal(c.gsBase, Number(DATA + 0x100n), "swapped");
      assert.equal(c.kernelGsBase, Number(DATA));
      for (let k = 0; k < 3; k++) assert.equal(m.call(0, at(0), [0x0n]), 0x1111n);
      m.call(0, at(1)); // back
      for (let k = 0; k < 3; k++) assert.equal(m.call(0, at(2), [DATA + 0x200n]), 0x2222n);
      assert.equal(m.call(0, rdfsAt), DATA + 0x200n);
    });
  }
});

Deno.test("cpu: ud2, int3, hlt and #DE are events the host sees", async (t) => {
  for (const [label, jit] of JIT_MODES) {
    await t.step(label, () => {
      // nop; ud2
      let m = snippet([0x90, 0x0f, 0x0b], { jit });
      let f = expectFault(() => run(m), CpuFault);
      assert.equal(f.code, "UD2");
      assert.equal(f.rip, CODE + 1n);
      assert.equal(m.cpus[0]!.getRip(), CODE + 1n);
      m = snippet([0x90, 0x90, 0xcc], { jit });
      f = expectFault(() => run(m), CpuFault);
      assert.equal(f.code, "BP");
      assert.equal(f.rip, CODE + 2n);
      m = snippet([0x90, 0xf4], { jit });
      f = expectFault(() => run(m), CpuFault);
      assert.equal(f.code, "HLT");
      assert.equal(m.cpus[0]!.halted, true);
      // mov rax, rdi; xor edx, edx; div rsi; ret
      m = snippet([0x48, 0x89, 0xf8, 0x31, 0xd2, 0x48, 0xf7, 0xf6, RET], { jit });
      assert.equal(run(m, [100n, 7n]), 14n);
      f = expectFault(() => m.call(0, CODE, [1n, 0n]), CpuFault);
      assert.equal(f.code, "DE");
      assert.equal(f.rip, CODE + 5n);
      // mov rax, rdi; cqo; idiv rsi; ret: INT64_MIN / -1 overflows
      m = snippet([0x48, 0x89, 0xf8, 0x48, 0x99, 0x48, 0xf7, 0xfe, RET], { jit });
      assert.equal(run(m, [BigInt.asUintN(64, -100n), 7n]), BigInt.asUintN(64, -14n));
      f = expectFault(() => m.call(0, CODE, [1n << 63n, BigInt.asUintN(64, -1n)]), CpuFault);
      assert.equal(f.code, "DE");
    });
  }
});

Deno.test("cpu: unimplemented and deliberately unmodelled instructions raise #UD naming them", () => {
  // vmread rax, rcx (by design) and addps xmm0, xmm1 (not implemented)
  for (
    const [bytes, name, why] of [
      [[0x0f, 0x78, 0xc8], "Vmread", /not modelled by design/],
      [[0x0f, 0x58, 0xc1], "Addps", /not implemented/],
      [[0x06], "INVALID", /Invalid instruction/],
    ] as const
  ) {
    const m = snippet([0x90, ...bytes]);
    const f = expectFault(() => m.call(0, CODE), CpuFault);
    assert.equal(f.code, "UD");
    assert.equal(f.rip, CODE + 1n);
    assert.match(f.message, why);
    if (name !== "INVALID") {
      assert.equal(f.mnemonic, name);
      assert.match(
        f.message,
        new RegExp(
          `${name} at 0x400001 \\(bytes ${
            bytes.map((b) => b.toString(16).padStart(2, "0")).join(" ")
          }\\)`,
        ),
      );
    }
  }
});

Deno.test("cpu: cli/sti and pushfq", async (t) => {
  // cli; pushfq; pop rax; sti; ret
  for (const [label, jit] of JIT_MODES) {
    await t.step(label, () => {
      const m = snippet([0xfa, 0x9c, 0x58, 0xfb, RET], { jit });
      const fl = run(m);
      assert.equal(fl & BigInt(FLAG_IF), 0n, "IF clear inside");
      assert.equal(fl & 2n, 2n, "bit 1 reads as 1");
      assert.equal(m.cpus[0]!.rflags & FLAG_IF, FLAG_IF, "set again");
    });
  }
});

Deno.test("cpu: string instructions with rep/repe/repne and DF", async (t) => {
  for (const [label, jit] of JIT_MODES) {
    await t.step(label, () => {
      // std; mov rcx, rdx; lea rsi, [rsi+rdx-1]; lea rdi, [rdi+rdx-1]; rep movsb; cld; ret
      let m = snippet(
        [
          0xfd,
          0x48,
          0x89,
          0xd1,
          0x48,
          0x8d,
          0x74,
          0x16,
          0xff,
          0x48,
          0x8d,
          0x7c,
          0x17,
          0xff,
          0xf3,
          0xa4,
          0xfc,
          RET,
        ],
        { jit },
      );
      m.memory.write(DATA, new TextEncoder().encode("abcdefgh"));
      run(m, [DATA + 2n, DATA, 6n], 1); // overlapping move upwards, done backwards
      assert.equal(new TextDecoder().decode(m.memory.read(DATA, 8)), "ababcdef");
      const c = m.cpus[0]!;
      assert.equal(c.getReg("rsi"), DATA - 1n);
      assert.equal(c.getReg("rdi"), DATA + 1n);
      assert.equal(c.rflags & FLAG_DF, 0);
      // mov rcx, rdx; repe cmpsb; mov rax, rcx; ret
      m = snippet([0x48, 0x89, 0xd1, 0xf3, 0xa6, 0x48, 0x89, 0xc8, RET], { jit });
      m.memory.write(DATA, new TextEncoder().encode("hello world"));
      m.memory.write(DATA + 0x100n, new TextEncoder().encode("help"));
      assert.equal(run(m, [DATA + 0x100n, DATA, 8n]), 4n, "stops after the mismatch at index 3");
      assert.equal(m.cpus[0]!.getReg("rsi"), DATA + 4n);
      // mov rcx, rdx; mov eax, esi; repne scasb; mov rax, rcx; ret
      m = snippet([0x48, 0x89, 0xd1, 0x89, 0xf0, 0xf2, 0xae, 0x48, 0x89, 0xc8, RET], { jit });
      m.memory.write(DATA, new TextEncoder().encode("xen-syms\0"));
      assert.equal(run(m, [DATA, 0x2dn, 9n]), 5n, "the '-' is byte 3");
      // rep stosb of 10000 bytes counts every iteration and resumes across chunks
      m = snippet([0x48, 0x89, 0xd1, 0x89, 0xf0, 0xf3, 0xaa, RET], { jit }); // mov rcx, rdx; mov eax, esi; rep stosb; ret
      const before = m.cpus[0]!.icount;
      m.call(0, CODE, [DATA, 0x5an, 10000n]);
      assert.equal(m.cpus[0]!.icount - before, 3 + 10000, "mov, mov, ret and one per iteration");
      assert.ok(m.memory.read(DATA, 10000).every((b) => b === 0x5a));
      assert.equal(m.memory.rd8(Number(DATA) + 10000), 0);
    });
  }
});

Deno.test("cpu: enter/leave, lock cmpxchg and xadd", async (t) => {
  for (const [label, jit] of JIT_MODES) {
    await t.step(label, () => {
      // enter 0x20, 0; mov rax, rsp; leave; ret
      let m = snippet([0xc8, 0x20, 0x00, 0x00, 0x48, 0x89, 0xe0, 0xc9, RET], { jit });
      const rsp = m.cpus[0]!.getReg("rsp");
      const inner = run(m);
      const entry = m.cpus[0]!.getReg("rsp") - 8n; // rsp before the ret popped
      assert.equal(inner, entry - 8n - 0x20n);
      assert.ok(rsp > 0n);
      // mov rax, rsi; lock cmpxchg [rdi], rdx; ret
      m = snippet([0x48, 0x89, 0xf0, 0xf0, 0x48, 0x0f, 0xb1, 0x17, RET], { jit });
      m.memory.writeU64(DATA, 5n);
      assert.equal(run(m, [DATA, 4n, 9n], 1), 5n, "fails: rax gets the old value");
      assert.equal(m.memory.readU64(DATA), 5n);
      assert.equal(run(m, [DATA, 5n, 9n], 1), 5n, "succeeds");
      assert.equal(m.memory.readU64(DATA), 9n);
      // mov rax, rsi; lock xadd [rdi], rax; ret
      m = snippet([0x48, 0x89, 0xf0, 0xf0, 0x48, 0x0f, 0xc1, 0x07, RET], { jit });
      m.memory.writeU64(DATA, 40n);
      assert.equal(run(m, [DATA, 1n], 2), 41n);
      assert.equal(m.memory.readU64(DATA), 42n);
    });
  }
});

Deno.test("cpu: cmpxchg16b, rdrand/rdseed and control registers", async (t) => {
  for (const [label, jit] of JIT_MODES) {
    await t.step(label, () => {
      // push rbx; mov rax, rsi; mov rbx, rcx; mov rcx, r8; lock cmpxchg16b [rdi]; setz al;
      // movzx eax, al; pop rbx; ret
      let m = snippet(
        [
          0x53,
          0x48,
          0x89,
          0xf0,
          0x48,
          0x89,
          0xcb,
          0x4c,
          0x89,
          0xc1,
          0xf0,
          0x48,
          0x0f,
          0xc7,
          0x0f,
          0x0f,
          0x94,
          0xc0,
          0x0f,
          0xb6,
          0xc0,
          0x5b,
          RET,
        ],
        { jit },
      );
      m.memory.writeU64(DATA, 1n);
      m.memory.writeU64(DATA + 8n, 2n);
      assert.equal(m.call(0, CODE, [DATA, 1n, 3n, 5n, 6n]), 0n, "hi half differs");
      assert.equal(m.cpus[0]!.getReg("rdx"), 2n, "rdx:rax loaded from memory");
      assert.equal(m.call(0, CODE, [DATA, 1n, 2n, 5n, 6n]), 1n);
      assert.deepEqual([m.memory.readU64(DATA), m.memory.readU64(DATA + 8n)], [5n, 6n]);
      assert.equal(
        expectFault(() => m.call(0, CODE, [DATA + 8n, 0n, 0n, 0n, 0n]), CpuFault).code,
        "GP",
      );
      // rdrand rax; ret | rdseed eax; ret: seeded, deterministic, CF=1
      const rnd = (seed: number) => {
        const r = snippet([0x48, 0x0f, 0xc7, 0xf0, RET, 0x0f, 0xc7, 0xf8, RET], {
          jit,
          model: { seed },
        });
        const v = [r.call(0, CODE), r.call(0, CODE), r.call(0, CODE + 5n)];
        assert.equal(r.cpus[0]!.rflags & 1, 1);
        assert.ok(v[2]! < 1n << 32n);
        return v.join();
      };
      assert.equal(rnd(7), rnd(7));
      assert.notEqual(rnd(7), rnd(8));
      // mov cr4, rdi; mov rax, cr4; ret (a serializing write)
      m = snippet([0x0f, 0x22, 0xe7, 0x0f, 0x20, 0xe0, RET], { jit });
      m.cpus[0]!.stale = new Map();
      assert.equal(m.call(0, CODE, [0x3506f0n | 0x80n]), 0x3506f0n | 0x80n);
      assert.equal(m.cpus[0]!.cr[4], 0x3506f0n | 0x80n);
      assert.equal(m.cpus[0]!.stale, null, "mov to cr serializes");
    });
  }
});
