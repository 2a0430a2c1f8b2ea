// The block compiler against the interpreter: same results, flags, faults and counts.
import assert from "node:assert/strict";
import { CpuFault, Machine, PERM_RW, PERM_RWX, PERM_RX } from "./mod.ts";
import { Prng } from "./scheduler.ts";
import {
  expectFault,
  snippet,
  SNIPPET_CODE as CODE,
  SNIPPET_DATA as DATA,
  Values,
} from "./_testing.ts";

const EAGER = { threshold: 1 };
const RET = 0xc3;

Deno.test("jit: a store into the running block takes effect at once", () => {
  // mov [rip+1], dil (the immediate of the next instruction); mov eax, imm32; ret
  const m = snippet([0x40, 0x88, 0x3d, 0x01, 0x00, 0x00, 0x00, 0xb8, 0x00, 0x00, 0x00, 0x00, RET], {
    jit: EAGER,
  });
  m.memory.protect(CODE, 4096, PERM_RWX);
  for (let k = 1n; k < 20n; k++) assert.equal(m.call(0, CODE, [k]), k);
  assert.ok(m.cpus[0]!.jit!.compiled > 0);
});

Deno.test("jit: faults inside a block leave the interpreter's exact state", () => {
  // cmp rdi, rsi; inc rcx; mov rax, [rdx]; ret
  const code = [0x48, 0x39, 0xf7, 0x48, 0xff, 0xc1, 0x48, 0x8b, 0x02, RET];
  const v = new Values(4);
  for (let k = 0; k < 50; k++) {
    const args = [v.u64(), v.u64(), 0x900000n, v.u64()];
    const states = [false, EAGER].map((jit) => {
      const m = snippet(code, { jit });
      for (let r = 0; r < 3; r++) m.call(0, CODE, [0n, 0n, DATA, 0n]);
      const before = m.cpus[0]!.icount;
      const f = expectFault(() => m.call(0, CODE, args), CpuFault);
      const c = m.cpus[0]!;
      return [f.code, f.rip, f.address, c.rflags, c.getReg("rcx"), c.getRip(), c.icount - before];
    });
    assert.deepEqual(states[1], states[0]);
    assert.equal(states[0]![1], CODE + 6n);
    assert.equal(states[0]![6], 2, "cmp and inc retired");
  }
});

Deno.test("jit: run(n) retires exactly n instructions, also in compiled loops", () => {
  // L: add rax, 1; sub rcx, 1; cmp rax, rdx; jmp L
  const code = [0x48, 0x83, 0xc0, 0x01, 0x48, 0x83, 0xe9, 0x01, 0x48, 0x39, 0xd0, 0xeb, 0xf3];
  for (const n of [1, 2, 3, 4, 5, 7, 1000, 4097]) {
    const states = [false, EAGER].map((jit) => {
      const m = snippet(code, { jit });
      const c = m.cpus[0]!;
      c.setRip(CODE);
      for (let k = 0; k < 3; k++) assert.equal(c.run(n), n);
      return [c.icount, c.getReg("rax"), c.getReg("rcx"), c.getRip(), c.rflags];
    });
    assert.deepEqual(states[1], states[0], `budget ${n}`);
    assert.equal(states[0]![0], 3 * n);
  }
});

// Flag producers (rdi, rsi operands) and the consumers after them.
const PRODUCERS: [string, number[]][] = [
  ["cmp rdi, rsi", [0x48, 0x39, 0xf7]],
  ["add rdi, rsi", [0x48, 0x01, 0xf7]],
  ["sub rdi, rsi", [0x48, 0x29, 0xf7]],
  ["and rdi, rsi", [0x48, 0x21, 0xf7]],
  ["or rdi, rsi", [0x48, 0x09, 0xf7]],
  ["xor rdi, rsi", [0x48, 0x31, 0xf7]],
  ["test rdi, rsi", [0x48, 0x85, 0xf7]],
  ["cmp rsi, rdi; inc rdi", [0x48, 0x39, 0xfe, 0x48, 0xff, 0xc7]],
  ["cmp rsi, rdi; dec rdi", [0x48, 0x39, 0xfe, 0x48, 0xff, 0xcf]],
  ["neg rdi", [0x48, 0xf7, 0xdf]],
  ["shl rdi, 3", [0x48, 0xc1, 0xe7, 0x03]],
  ["shr rdi, 1", [0x48, 0xd1, 0xef]],
  ["sar rdi, 33", [0x48, 0xc1, 0xff, 0x21]],
  ["imul rdi, rsi", [0x48, 0x0f, 0xaf, 0xfe]],
  ["cmp rsi, rdi; rol rdi, 13", [0x48, 0x39, 0xfe, 0x48, 0xc1, 0xc7, 0x0d]],
  ["cmp rsi, rdi; ror rdi, 40", [0x48, 0x39, 0xfe, 0x48, 0xc1, 0xcf, 0x28]],
  ["add edi, esi; rol edi, 7", [0x01, 0xf7, 0xc1, 0xc7, 0x07]],
  ["sub di, si; ror di, 3", [0x66, 0x29, 0xf7, 0x66, 0xc1, 0xcf, 0x03]],
  ["imul rdi, rsi, -3", [0x48, 0x6b, 0xfe, 0xfd]],
  ["cmp edi, esi", [0x39, 0xf7]],
  ["add edi, esi", [0x01, 0xf7]],
  ["sub edi, esi", [0x29, 0xf7]],
  ["cmp esi, edi; inc edi", [0x39, 0xfe, 0xff, 0xc7]],
  ["shl edi, 5", [0xc1, 0xe7, 0x05]],
  ["imul edi, esi", [0x0f, 0xaf, 0xfe]],
  ["cmp dil, sil", [0x40, 0x38, 0xf7]],
  ["add dil, sil", [0x40, 0x00, 0xf7]],
  ["sub di, si", [0x66, 0x29, 0xf7]],
  ["shr di, 4", [0x66, 0xc1, 0xef, 0x04]],
  ["sar sil, 2; or dil, dil", [0x40, 0xc0, 0xfe, 0x02, 0x40, 0x08, 0xff]],
];
const CONSUMERS: [string, number[]][] = [
  ["pushfq; pop rax", [0x9c, 0x58]],
  ...Array.from(
    { length: 16 },
    (_, cc) =>
      [`setcc ${cc}`, [0x0f, 0x90 + cc, 0xc0, 0x0f, 0xb6, 0xc0]] as [
        string,
        number[],
      ],
  ),
  ["adc rax, rdi", [0x48, 0x31, 0xc0, 0x48, 0x11, 0xf8]], // xor eax,eax clears CF first: sbb-free check
  ["cmovb rax, rsi", [0x48, 0x31, 0xc0, 0x48, 0x0f, 0x42, 0xc6]],
];

Deno.test("jit: lazy flags inside and across blocks match the interpreter", () => {
  // Layout per (producer, consumer): in-block "p; c; ret" at a, cross-block "p; jmp rdx" at b
  // with "c; ret" at b + 0x20 (the indirect jump ends the block before the consumer).
  const code = new Uint8Array(0x10000).fill(0xcc);
  const sites: { name: string; inBlock: bigint; cross: bigint; target: bigint }[] = [];
  let at = 0;
  for (const [pn, p] of PRODUCERS) {
    for (const [cn, c] of CONSUMERS) {
      code.set([...p, ...c, RET], at);
      code.set([...p, 0xff, 0xe2], at + 0x20); // jmp rdx
      code.set([...c, RET], at + 0x40);
      sites.push({
        name: `${pn}; ${cn}`,
        inBlock: CODE + BigInt(at),
        cross: CODE + BigInt(at + 0x20),
        target: CODE + BigInt(at + 0x40),
      });
      at += 0x60;
    }
  }
  assert.ok(at <= code.length);
  const machines = [false, EAGER].map((jit) => {
    const m = new Machine({ cpus: 1, jit });
    m.map({ address: CODE, data: code, size: code.length, perms: PERM_RX });
    return m;
  });
  const v = new Values(20261203);
  const rng = new Prng(77);
  for (const s of sites) {
    for (let k = 0; k < 6; k++) {
      const a = v.u64(), b = rng.below(4) === 0 ? a : v.u64();
      const flags = BigInt(rng.next() & 0x8d5) | 2n;
      const results = machines.map((m) => {
        m.cpus[0]!.rflags = Number(flags);
        const x = m.call(0, s.inBlock, [a, b]);
        const y = m.call(0, s.cross, [a, b, s.target]);
        return [x, y, m.cpus[0]!.rflags];
      });
      assert.deepEqual(
        results[1],
        results[0],
        `${s.name} with 0x${a.toString(16)}, 0x${b.toString(16)}`,
      );
    }
  }
  assert.ok(machines[1]!.cpus[0]!.jit!.compiled > sites.length, "compiled code ran");
});

Deno.test("jit: blocks die with their pages (unmap, protect)", () => {
  const m = snippet([0xb8, 0x07, 0x00, 0x00, 0x00, RET], { jit: EAGER });
  for (let k = 0; k < 3; k++) assert.equal(m.call(0, CODE), 7n);
  m.memory.protect(CODE, 4096, PERM_RW);
  const nx = expectFault(() => m.call(0, CODE), CpuFault);
  assert.equal(nx.access, "execute");
  m.memory.protect(CODE, 4096, PERM_RX);
  assert.equal(m.call(0, CODE), 7n);
  m.memory.unmap(CODE, 4096);
  assert.equal(expectFault(() => m.call(0, CODE), CpuFault).code, "PAGE_FAULT");
  m.map({
    address: CODE,
    data: new Uint8Array([0xb8, 0x09, 0, 0, 0, RET]),
    size: 6,
    perms: PERM_RX,
  });
  assert.equal(m.call(0, CODE), 9n, "new code at the old address");
  m.memory.flushCode();
  assert.equal(m.call(0, CODE), 9n);
});

Deno.test("jit: frames of calls inlined into a trace appear at faults and side exits", () => {
  // A (+0x00): call B; ret
  // B (+0x10): test rdi, rdi; jne C; mov rax, [rsi]; ret
  // C (+0x30): (hook) mov eax, 7; ret
  const code = new Array(0x40).fill(0xcc);
  const put = (at: number, b: number[]) => b.forEach((x, k) => (code[at + k] = x));
  put(0x00, [0xe8, 0x0b, 0x00, 0x00, 0x00, RET]);
  put(0x10, [0x48, 0x85, 0xff, 0x75, 0x1b, 0x48, 0x8b, 0x06, RET]);
  put(0x30, [0xb8, 0x07, 0x00, 0x00, 0x00, RET]);
  const traces = [false, EAGER].map((jit) => {
    const m = snippet(code, { jit });
    let atC: bigint[] = [];
    m.hook(CODE + 0x30n, () => {
      atC = m.backtrace(0);
    });
    for (let k = 0; k < 3; k++) assert.equal(m.call(0, CODE, [0n, DATA]), 0n);
    const f = expectFault(() => m.call(0, CODE, [0n, 0x900000n]), CpuFault);
    const atFault = m.backtrace(0);
    assert.equal(m.call(0, CODE, [1n, 0n]), 7n);
    return { rip: f.rip, atFault, atC };
  });
  assert.deepEqual(traces[1], traces[0]);
  assert.deepEqual(traces[0]!.atFault, [CODE + 0x15n, CODE + 5n]);
  assert.deepEqual(traces[0]!.atC, [CODE + 0x30n, CODE + 5n]);
});
