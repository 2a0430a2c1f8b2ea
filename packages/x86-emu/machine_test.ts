import assert from "node:assert/strict";
import {
  CpuFault,
  EmuError,
  type Machine,
  STOP_HOST,
  type SymbolLookup,
  XEN_STACK_SIZE,
} from "./mod.ts";
import {
  expectFault,
  JIT_MODES,
  snippet,
  SNIPPET_CODE as CODE,
  SNIPPET_DATA as DATA,
} from "./_testing.ts";

const RET = 0xc3;

/** A symbol table over a few names (the shape of `@lpkit/elf`'s SymbolIndex). */
function symbols(names: Record<string, bigint>): SymbolLookup {
  return {
    byName: (n) => (n in names ? { value: names[n]! } : undefined),
    format: (a) => {
      for (const [n, v] of Object.entries(names)) {
        if (a >= v && a < v + 0x10n) return `${n}+0x${(a - v).toString(16)}/0x10`;
      }
      return `0x${a.toString(16)}`;
    },
  };
}

Deno.test("machine: SysV call with stack arguments and an aligned stack", async (t) => {
  // lea rax,[rdi+rsi]; add rax,rdx; add rax,rcx; add rax,r8; add rax,r9;
  // add rax,[rsp+8]; add rax,[rsp+16]; ret
  const sum = [
    0x48,
    0x8d,
    0x04,
    0x37,
    0x48,
    0x01,
    0xd0,
    0x48,
    0x01,
    0xc8,
    0x4c,
    0x01,
    0xc0,
    0x4c,
    0x01,
    0xc8,
    0x48,
    0x03,
    0x44,
    0x24,
    0x08,
    0x48,
    0x03,
    0x44,
    0x24,
    0x10,
    RET,
  ];
  const rspAt = sum.length; // mov rax, rsp; ret
  for (const [label, jit] of JIT_MODES) {
    await t.step(label, () => {
      const m = snippet([...sum, 0x48, 0x89, 0xe0, RET], { jit, cpus: 2 });
      for (let k = 0; k < 3; k++) {
        assert.equal(m.call(1, CODE, [1n, 2n, 3n, 4n, 5n, 6n, 7n, 0x100n]), 0x11cn);
      }
      for (const nargs of [0, 7, 8]) {
        const rsp = m.call(0, CODE + BigInt(rspAt), new Array(nargs).fill(0n));
        assert.equal(rsp % 16n, 8n, `rsp + 8 is 16-byte aligned at entry (${nargs} args)`);
      }
      assert.equal(
        m.call(0, CODE, [-1n, 1n, 0n, 0n, 0n, 0n, 0n, 0n]),
        0n,
        "arguments wrap modulo 2^64",
      );
    });
  }
});

Deno.test("machine: budgets, halts, symbols and API errors", async (t) => {
  await t.step("an endless loop runs out of budget", () => {
    const m = snippet([0x90, 0xeb, 0xfd]); // nop; jmp -3
    const f = expectFault(() => m.call(0, CODE, [], { budget: 10_001 }), CpuFault);
    assert.equal(f.code, "BUDGET");
    assert.ok(f.rip === CODE || f.rip === CODE + 1n);
  });
  await t.step("targets by symbol", () => {
    const m = snippet([0xb8, 42, 0, 0, 0, RET]);
    assert.equal(expectFault(() => m.call(0, "answer"), EmuError).code, "NO_SYMBOLS");
    m.symbols = symbols({ answer: CODE });
    assert.equal(m.call(0, "answer"), 42n);
    const e = expectFault(() => m.call(0, "question"), EmuError);
    assert.equal(e.code, "UNKNOWN_SYMBOL");
    assert.equal(e.subject, "question");
    assert.equal(m.symbolize(CODE + 3n), "answer+0x3/0x10");
  });
  await t.step("bad CPU indices and options", () => {
    const m = snippet([RET], { cpus: 2 });
    assert.equal(expectFault(() => m.call(2, CODE), EmuError).code, "NO_CPU");
    assert.equal(expectFault(() => m.timeNs(-1), EmuError).code, "NO_CPU");
    assert.equal(expectFault(() => snippet([RET], { cpus: 0 }), EmuError).code, "BAD_OPTION");
    assert.equal(expectFault(() => m.hook(0x7000000n, () => {}), EmuError).code, "UNMAPPED");
  });
});

Deno.test("machine: Xen-style stacks with the per-CPU area on top", () => {
  // mov rax, rsp; or rax, 0x7fff; ret  (Xen's get_cpu_info())
  const m = snippet([0x48, 0x89, 0xe0, 0x48, 0x0d, 0xff, 0x7f, 0x00, 0x00, RET], { cpus: 4 });
  const tops = new Set<bigint>();
  for (let k = 0; k < 4; k++) {
    const top = m.stackTop(k);
    assert.equal(top % BigInt(XEN_STACK_SIZE), 0n, "32 KiB aligned");
    assert.equal(m.call(k, CODE), top - 1n);
    const area = m.perCpuArea(k);
    assert.equal(area.end, top);
    assert.equal(top - area.start, 0x200n);
    assert.ok(m.cpus[k]!.getReg("rsp") <= area.start, "calls run below the per-CPU area");
    tops.add(top);
  }
  assert.equal(tops.size, 4);
  // A runaway recursion (call $) hits the unmapped guard below the stack.
  const r = snippet([0xe8, 0xfb, 0xff, 0xff, 0xff]);
  const f = expectFault(() => r.call(0, CODE, [], { budget: 100_000 }), CpuFault);
  assert.equal(f.code, "PAGE_FAULT");
  assert.equal(f.access, "write");
  assert.equal(f.address, r.stackTop(0) - BigInt(XEN_STACK_SIZE) - 8n);
});

Deno.test("machine: host functions called from the guest", async (t) => {
  // push rbx; mov rbx, rdi; mov rdi, rsi; mov rsi, rdx; call rbx; add rax, 1; pop rbx; ret
  const code = [
    0x53,
    0x48,
    0x89,
    0xfb,
    0x48,
    0x89,
    0xf7,
    0x48,
    0x89,
    0xd6,
    0xff,
    0xd3,
    0x48,
    0x83,
    0xc0,
    0x01,
    0x5b,
    RET,
  ];
  for (const [label, jit] of JIT_MODES) {
    await t.step(label, () => {
      const m = snippet(code, { jit });
      const seen: bigint[][] = [];
      const mul = m.hostFunction((c) => {
        seen.push([c.getReg("rdi"), c.getReg("rsi")]);
        return c.getReg("rdi") * c.getReg("rsi");
      });
      for (let k = 0; k < 3; k++) assert.equal(m.call(0, CODE, [mul, 6n, 7n]), 43n);
      assert.deepEqual(seen[0], [6n, 7n]);
      assert.equal(m.cpus[0]!.calls.frames.length, 0, "the chain unwound");
    });
  }
});

Deno.test("machine: hooks continue, return, stop, and see code changes", async (t) => {
  // f: mov eax, 1; ret   caller (at +0x10): call f; add eax, 10; ret
  const f = [0xb8, 1, 0, 0, 0, RET];
  const caller = [0xe8, 0xeb, 0xff, 0xff, 0xff, 0x83, 0xc0, 0x0a, RET]; // call -0x15 -> CODE
  const code = [...f, ...new Array(10).fill(0x90), ...caller];
  const callerAt = CODE + 0x10n;
  for (const [label, jit] of JIT_MODES) {
    await t.step(label, () => {
      const m = snippet(code, { jit, cpus: 2 });
      for (let k = 0; k < 3; k++) assert.equal(m.call(0, callerAt), 11n); // compiled, f inlined
      let hits = 0;
      const unhook = m.hook(CODE, () => {
        hits++;
      });
      assert.equal(m.call(0, callerAt), 11n, "continue runs the instruction");
      assert.equal(hits, 1, "the hook ran although f had been compiled into the caller");
      m.memory.write(CODE + 1n, new Uint8Array([5]));
      assert.equal(m.call(0, callerAt), 15n, "new bytes at the hooked address are honoured");
      unhook();
      m.hook(CODE, () => ({ return: 100n }));
      assert.equal(m.call(0, callerAt), 110n);
      const stopAt = m.hook(CODE + 0x15n, () => "stop"); // the add after the call
      const stopped = expectFault(() => m.call(0, callerAt), CpuFault);
      assert.equal(stopped.code, "STOPPED");
      assert.equal(stopped.rip, CODE + 0x15n);
      assert.equal(m.cpus[0]!.stop, STOP_HOST);
      stopAt();
      assert.equal(m.call(0, callerAt), 110n);
    });
  }
  await t.step("stopped tasks wait for resume()", () => {
    const m = snippet(code, { cpus: 2 });
    let open = false;
    m.hook(CODE, () => (open ? "continue" : "stop"));
    const t0 = m.start(0, callerAt);
    const t1 = m.start(1, CODE + 6n); // nops, then the caller's code calls f
    m.runAll({ seed: 3 });
    assert.equal(t0.done, false);
    assert.equal(t0.stopped, true);
    assert.equal(t1.stopped, true);
    open = true;
    m.resume(0);
    m.runAll({ seed: 3 });
    assert.equal(t0.done, true);
    assert.equal(t0.result, 11n);
    assert.equal(t1.done, false, "cpu1 was not resumed");
    m.resume(1);
    m.runAll();
    assert.equal(t1.result, 11n);
  });
});

// counter: rdi, log: rsi, n: rdx. xor ecx,ecx; L: mov eax,1; lock xadd [rdi],eax;
// mov [rsi+rcx*4],eax; inc ecx; cmp ecx,edx; jne L; ret
const RACE = [
  0x31,
  0xc9,
  0xb8,
  0x01,
  0x00,
  0x00,
  0x00,
  0xf0,
  0x0f,
  0xc1,
  0x07,
  0x89,
  0x04,
  0x8e,
  0xff,
  0xc1,
  0x39,
  0xd1,
  0x75,
  0xee,
  RET,
];

function race(m: Machine, seed: number, quantum: number): string {
  m.memory.write(DATA, new Uint8Array(0x4000));
  for (let k = 0; k < 4; k++) m.start(k, CODE, [DATA, DATA + 0x100n + BigInt(k) * 0x400n, 200n]);
  const tasks = m.runAll({ seed, quantum });
  assert.ok(tasks.every((t) => t.done && t.fault === undefined));
  assert.equal(m.memory.readU64(DATA), 800n);
  return Array.from(m.memory.read(DATA + 0x100n, 0x1000)).join(",");
}

Deno.test("machine: the scheduler is deterministic by seed", () => {
  const runs = (seed: number, jit: boolean) => race(snippet(RACE, { cpus: 4, jit }), seed, 37);
  const a = runs(1, true);
  assert.equal(runs(1, true), a, "same seed, same interleaving");
  assert.equal(runs(1, false), a, "the block compiler does not change the interleaving");
  assert.notEqual(runs(2, true), a, "another seed interleaves differently");
  // Round-robin without jitter is deterministic too.
  const m = snippet(RACE, { cpus: 4 });
  const rr = race(m, 1, 1000);
  assert.equal(race(snippet(RACE, { cpus: 4 }), 1, 1000), rr);
});

Deno.test("machine: interrupts and IPIs", async (t) => {
  // task: L: mov rax, [0x600100]; test rax, rax; je L; ret
  const task = [0x48, 0x8b, 0x04, 0x25, 0x00, 0x01, 0x60, 0x00, 0x48, 0x85, 0xc0, 0x74, 0xf3, RET];
  // handler at +0x20: lock inc qword [0x600100]; iretq
  const handler = [0xf0, 0x48, 0xff, 0x04, 0x25, 0x00, 0x01, 0x60, 0x00, 0x48, 0xcf];
  const code = [...task, ...new Array(0x20 - task.length).fill(0x90), ...handler];
  for (const [label, jit] of JIT_MODES) {
    await t.step(`${label}: guest handler through an interrupt frame`, () => {
      const m = snippet(code, { jit, cpus: 2 });
      m.interruptHandlers.set(0x20, CODE + 0x20n);
      const t1 = m.start(1, CODE);
      m.runAll({ seed: 5, budget: 5000 });
      assert.equal(t1.done, false, "spinning without the interrupt");
      m.sendInterrupt(1, 0x20);
      m.runAll({ seed: 5 });
      assert.equal(t1.done, true);
      assert.equal(t1.result, 1n);
      assert.equal(m.cpus[1]!.calls.frames.length, 0, "the interrupt frame was popped by iretq");
    });
  }
  await t.step("the host hook, and IF masking", () => {
    const m = snippet(code, { cpus: 2 });
    const got: [number, number][] = [];
    m.onInterrupt = (c, v) => {
      got.push([c.index, v]);
      m.memory.writeU64(DATA + 0x100n, 7n);
      return true;
    };
    const t0 = m.start(0, CODE);
    m.cpus[0]!.rflags = m.cpus[0]!.rflags & ~0x200; // cli
    m.sendInterrupt(0, 0xfb);
    m.runAll({ seed: 1, budget: 3000 });
    assert.deepEqual(got, [], "masked while IF is clear");
    m.cpus[0]!.rflags = m.cpus[0]!.rflags | 0x200; // sti
    m.runAll({ seed: 1 });
    assert.deepEqual(got, [[0, 0xfb]]);
    assert.equal(t0.result, 7n);
  });
  await t.step("an unhandled vector is reported", () => {
    const m = snippet(code, { cpus: 1 });
    const t0 = m.start(0, CODE);
    m.sendInterrupt(0, 3);
    assert.equal(expectFault(() => m.runAll(), CpuFault).code, "GP");
    assert.equal(t0.done, false);
  });
});

Deno.test("machine: simulated time follows retired instructions", () => {
  const m = snippet(RACE, { cpus: 4, clockHz: 1e9, cyclesPerInstruction: 2 });
  race(m, 9, 50);
  for (let k = 0; k < 4; k++) assert.equal(m.timeNs(k), m.cpus[k]!.icount * 2);
  assert.equal(m.nowNs(), Math.max(...m.cpus.map((c) => c.icount * 2)));
  assert.ok(m.cpus.every((c) => c.icount === 1 + 200 * 6 + 1), "xor, 200 rounds of 6, ret");
});

Deno.test("machine: hlt sleeps until an interrupt wakes the CPU", async (t) => {
  // sti; hlt; mov eax, 5; ret
  for (const [label, jit] of JIT_MODES) {
    await t.step(label, () => {
      const m = snippet([0xfb, 0xf4, 0xb8, 0x05, 0x00, 0x00, 0x00, RET], { jit, cpus: 2 });
      const woken: number[] = [];
      m.onInterrupt = (c) => {
        woken.push(c.index);
        return true;
      };
      const task = m.start(1, CODE);
      m.runAll({ seed: 2 });
      assert.equal(task.done, false);
      assert.equal(m.cpus[1]!.halted, true);
      const slept = m.cpus[1]!.icount;
      m.runAll({ seed: 2 });
      assert.equal(m.cpus[1]!.icount, slept, "a halted CPU retires nothing");
      m.sendInterrupt(1, 0xf0);
      m.runAll({ seed: 2 });
      assert.deepEqual(woken, [1]);
      assert.equal(task.result, 5n);
    });
  }
});
