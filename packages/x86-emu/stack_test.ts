import assert from "node:assert/strict";
import { CallTracker, type Cpu, fromLinear, scanStack, type SymbolLookup } from "./mod.ts";
import { JIT_MODES, snippet, SNIPPET_CODE as CODE } from "./_testing.ts";

/**
 * A calls B; B calls C through Xen's retpoline `__x86_indirect_thunk_rax` (T) and returns through
 * `__x86_return_thunk` (RT), as Xen's compiler flags make every function do.
 */
function layout(): number[] {
  const code = new Array(0x130).fill(0x90);
  const put = (at: number, bytes: number[]) => bytes.forEach((b, k) => (code[at + k] = b));
  put(0x00, [0x53, 0xe8, 0x0a, 0x00, 0x00, 0x00, 0x5b, 0xc3]); // A: push rbx; call B; pop rbx; ret
  put(0x10, [0x48, 0xb8, 0x30, 0x00, 0x40, 0, 0, 0, 0, 0]); // B: mov rax, C
  put(0x1a, [0xe8, 0xe1, 0x00, 0x00, 0x00]); //    call __x86_indirect_thunk_rax
  put(0x1f, [0xe9, 0xfc, 0x00, 0x00, 0x00]); //    jmp __x86_return_thunk
  put(0x30, [0xb8, 0x05, 0x00, 0x00, 0x00, 0xe9, 0xe6, 0x00, 0x00, 0x00]); // C: mov eax, 5; jmp RT
  put(0x100, [0xe8, 0x01, 0x00, 0x00, 0x00, 0xcc, 0x48, 0x89, 0x04, 0x24, 0xc3]); // T
  put(0x120, [0xc3, 0xcc]); // RT: ret; int3
  return code;
}

const A = CODE, B = CODE + 0x10n, C = CODE + 0x30n, T = CODE + 0x100n, RT = CODE + 0x120n;
const SYMBOLS: SymbolLookup = {
  byName: () => undefined,
  format: (a) => {
    const names: [string, bigint, bigint][] = [
      ["A", A, 8n],
      ["B", B, 0x14n],
      ["arch/x86/c.c#C", C, 10n],
      ["__x86_indirect_thunk_rax", T, 11n],
      ["__x86_return_thunk", RT, 2n],
    ];
    for (const [n, v, size] of names) {
      if (a >= v && a < v + size) return `${n}+0x${(a - v).toString(16)}/0x${size.toString(16)}`;
    }
    return `0x${a.toString(16)}`;
  },
};

Deno.test("stack: exact call chain through retpolines and return thunks", async (t) => {
  for (const [label, jit] of JIT_MODES) {
    await t.step(label, () => {
      const m = snippet(layout(), { jit, symbols: SYMBOLS });
      let trace: bigint[] = [], names: string[] = [], scan: bigint[] = [];
      let target = 0n;
      m.hook(C, (c: Cpu) => {
        trace = m.backtrace(0);
        names = m.backtraceSymbols(0);
        scan = m.scanStack(0).map((h) => h.address);
        target = fromLinear(c.calls.frames[c.calls.frames.length - 1]!.target);
      });
      for (let k = 0; k < 4; k++) assert.equal(m.call(0, A), 5n);
      assert.deepEqual(trace, [C, B + 0xfn, A + 6n]);
      assert.deepEqual(names, ["arch/x86/c.c#C+0x0/0xa", "B+0xf/0x14", "A+0x6/0x8"]);
      assert.equal(target, C, "the retpoline's ret made C the callee of B's call");
      assert.deepEqual(scan, [B + 0xfn, A + 6n], "the conservative scan sees the return addresses");
      assert.equal(m.cpus[0]!.calls.frames.length, 0, "everything returned");
    });
  }
});

Deno.test("stack: interrupt frames are part of the chain", () => {
  // task: L: jmp L   handler at +0x40: (hook) iretq
  const code = new Array(0x50).fill(0x90);
  code[0] = 0xeb;
  code[1] = 0xfe;
  code[0x40] = 0x48;
  code[0x41] = 0xcf;
  const m = snippet(code, { cpus: 1 });
  m.interruptHandlers.set(0x30, CODE + 0x40n);
  let inHandler: bigint[] = [];
  m.hook(CODE + 0x40n, () => {
    inHandler = m.backtrace(0);
  });
  const task = m.start(0, CODE);
  m.sendInterrupt(0, 0x30);
  m.runAll({ budget: 100 });
  assert.deepEqual(inHandler, [CODE + 0x40n, CODE], "handler, then the interrupted instruction");
  assert.equal(m.cpus[0]!.calls.frames.filter((f) => f.kind === "interrupt").length, 0);
  assert.equal(task.done, false);
});

Deno.test("stack: CallTracker unwinds abandoned frames and stays bounded", async (t) => {
  await t.step("a return to an outer frame drops the inner ones (longjmp-like)", () => {
    const c = new CallTracker();
    c.onCall(0x10, 0x100, 0x15, 0x7ff0);
    c.onCall(0x110, 0x200, 0x115, 0x7fe0);
    c.onCall(0x210, 0x300, 0x215, 0x7fd0);
    c.onReturn(0x7ff0, 0x15);
    assert.equal(c.frames.length, 0);
  });
  await t.step("a ret reading a slot no call pushed leaves the chain alone", () => {
    const c = new CallTracker();
    c.onCall(0x10, 0x100, 0x15, 0x7ff0);
    c.onReturn(0x7ff8, 0x99);
    assert.equal(c.frames.length, 0, "the slot is above every frame: they were abandoned");
    c.onCall(0x10, 0x100, 0x15, 0x7ff0);
    c.onReturn(0x7fe8, 0x99); // below the frame: a stack switch, not a return from it
    assert.equal(c.frames.length, 1);
  });
  await t.step("depth is bounded on runaway recursion", () => {
    const c = new CallTracker();
    for (let k = 0; k < 10_000; k++) c.onCall(k, k, k + 5, 0x100000 - 8 * k);
    assert.equal(c.frames.length, c.maxDepth);
    assert.equal(c.backtrace(1)[1], 9_999 + 5);
  });
});

Deno.test("stack: conservative scan stops at unreadable words", () => {
  const words = new Map([[0x1000, 0x4010], [0x1008, 0x12], [0x1010, 0x4ff0]]);
  const read = (a: number) => {
    const v = words.get(a);
    if (v === undefined) throw new Error("unmapped");
    return v;
  };
  const hits = scanStack(read, 0x1000, 0x1030, [{ start: 0x4000, end: 0x5000 }]);
  assert.deepEqual(hits, [{ slot: 0x1000, address: 0x4010 }, { slot: 0x1010, address: 0x4ff0 }]);
  assert.deepEqual(
    scanStack(read, 0x1001, 0x1010, [{ start: 0x4000, end: 0x5000 }]),
    [],
    "aligned up",
  );
});
