// Real Xen: Debian's xen-syms 4.17, run function by function, results checked against what the
// image itself says (its .rodata, its instructions decoded by iced-x86) and against JS references.
// Without xen-syms these tests are skipped, except under CI=true where they fail.
import assert from "node:assert/strict";
import { type ElfFile, parseElf } from "@lpkit/elf";
import {
  CpuFault,
  decodeBytes,
  loadImage,
  Machine,
  mnemonicName,
  PERM_R,
  PERM_RW,
  PERM_RX,
} from "./mod.ts";
import { Prng } from "./scheduler.ts";
import { expectFault, inCi, readXenSyms, XEN_SYMS } from "./_testing.ts";

const bytes = readXenSyms();
if (bytes === undefined && inCi()) {
  Deno.test("xen-syms is required under CI", () => {
    assert.fail(`${XEN_SYMS} is missing (run: deno task xen-syms)`);
  });
}
const elf: ElfFile | undefined = bytes === undefined ? undefined : parseElf(bytes);
const index = elf?.symbolIndex();
const ignore = elf === undefined;

/** Buffers live in Xen's directmap region, above the stacks. */
const BUF = 0xffff830001000000n;
const BUF_SIZE = 0x20000;

function xen(jit: boolean | { threshold: number } = true): Machine {
  const m = new Machine({ cpus: 2, jit });
  loadImage(m, elf!);
  m.map({ address: BUF, data: new Uint8Array(0), size: BUF_SIZE, perms: PERM_RW });
  return m;
}

function section(name: string) {
  return elf!.sections.find((s) => s.name === name)!;
}

const text = (s: string) => new TextEncoder().encode(s);
const MODES = [["interpreter", false], ["block compiler", true]] as const;

Deno.test({
  name: "xen: xen-syms is mapped with Xen's run-time permissions",
  ignore,
  fn() {
    const m = xen();
    const at = (name: string) => section(name).address;
    assert.equal(m.memory.permissions(at(".text")), PERM_RX);
    assert.equal(m.memory.permissions(at(".init.text")), PERM_RX);
    assert.equal(m.memory.permissions(at(".rodata")), PERM_R, "read-only although the ELF says WA");
    assert.equal(m.memory.permissions(at(".data")), PERM_RW);
    assert.equal(m.memory.permissions(at(".bss") + 0x100000n), PERM_RW);
    assert.equal(m.textRanges.length, 2, ".text and .init.text");
    // memset(.text, 0, 1) from the guest faults on the write; jumping into .rodata faults too.
    const w = expectFault(() => m.call(0, "memset", [m.resolve("memcpy"), 0n, 1n]), CpuFault);
    assert.equal(w.code, "PAGE_FAULT");
    assert.equal(w.access, "write");
    assert.equal(w.address, m.resolve("memcpy"));
    assert.match(m.symbolize(w.rip), /^memset\+0x[0-9a-f]+\/0x12$/);
    const x = expectFault(() => m.call(0, at(".rodata")), CpuFault);
    assert.equal(x.access, "execute");
    const r = expectFault(() => m.call(0, "strlen", [0xffff830100000000n]), CpuFault);
    assert.equal(r.access, "read");
    assert.equal(r.address, 0xffff830100000000n);
  },
});

Deno.test({
  name: "xen: xen_major_version, xen_minor_version, xen_extra_version agree with the image",
  ignore,
  fn() {
    const m = xen();
    const major = m.call(0, "xen_major_version");
    const minor = m.call(1, "xen_minor_version");
    const extraAt = m.call(0, "xen_extra_version");
    const extra = m.memory.readCString(extraAt);
    // 1. The immediates iced decodes from the functions' first instruction (mov eax, imm32).
    for (
      const [name, got] of [["xen_major_version", major], ["xen_minor_version", minor]] as const
    ) {
      const s = index!.byName(name)!;
      const off = Number(s.value - section(".text").address);
      const ins = decodeBytes(elf!.sectionData(section(".text")).subarray(off, off + 15), s.value);
      assert.equal(mnemonicName(ins.mnemonic), "Mov");
      assert.equal(BigInt(ins.ops[1]!.immLo), got, name);
    }
    // 2. The package version string in .rodata, read straight from the file.
    const ro = section(".rodata");
    const roText = new TextDecoder("latin1").decode(elf!.sectionData(ro));
    const v = /(\d+)\.(\d+)(\.\d+)\+\d+-g[0-9a-f]+-\d+\+deb\d+u\d+/.exec(roText);
    assert.ok(v !== null, "Debian's version string is in .rodata");
    assert.equal(major, BigInt(v[1]!));
    assert.equal(minor, BigInt(v[2]!));
    assert.equal(extra, v[3]);
    // 3. The extra version is a NUL-terminated string inside .rodata.
    assert.ok(extraAt >= ro.address && extraAt < ro.address + BigInt(ro.size));
    const off = Number(extraAt - ro.address);
    assert.equal(roText.slice(off, off + extra.length + 1), extra + "\0");
    assert.equal(`${major}.${minor}${extra}`, "4.17.7");
    assert.match(
      m.memory.readCString(m.call(0, "xen_compile_date")),
      /^\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \w+ \d{4}$/,
    );
    assert.match(m.memory.readCString(m.call(0, "xen_compiler")), /gcc/);
  },
});

Deno.test({
  name: "xen: memcpy, memmove, memset, memcmp, strlen, strcmp on emulated buffers",
  ignore,
  async fn(t) {
    for (const [label, jit] of MODES) {
      await t.step(label, () => {
        const m = xen(jit);
        const rng = new Prng(4717);
        const rand = (n: number) => Uint8Array.from({ length: n }, () => rng.below(256));
        const A = BUF, B = BUF + 0x8000n;
        for (let round = 0; round < 60; round++) {
          const n = [0, 1, 7, 8, 9, 63, 64, 65, 4095, 4097][round % 10]! + rng.below(3);
          const src = rand(n + 16), dst = rand(n + 16);
          m.memory.write(A, src);
          m.memory.write(B, dst);
          assert.equal(m.call(0, "memcpy", [B, A + 3n, BigInt(n)]), B, "memcpy returns dst");
          const want = dst.slice();
          want.set(src.subarray(3, 3 + n));
          assert.deepEqual(m.memory.read(B, n + 16), want, `memcpy ${n}`);
          // memmove with overlap in both directions
          const shift = 1 + rng.below(16);
          const before = m.memory.read(A, n + 32);
          m.call(0, "memmove", [A + BigInt(shift), A, BigInt(n)]);
          const up = before.slice();
          up.copyWithin(shift, 0, n);
          assert.deepEqual(m.memory.read(A, n + 32), up, `memmove up ${n}`);
          m.call(0, "memmove", [A, A + BigInt(shift), BigInt(n)]);
          up.copyWithin(0, shift, shift + n);
          assert.deepEqual(m.memory.read(A, n + 32), up, `memmove down ${n}`);
          // memset
          const c = rng.below(256);
          assert.equal(m.call(1, "memset", [B + 1n, BigInt(c) | 0x1200n, BigInt(n)]), B + 1n);
          const set = m.memory.read(B, n + 2);
          assert.ok(set.subarray(1, n + 1).every((b) => b === c), `memset ${n}`);
          // memcmp: equal, then one byte changed
          m.memory.write(A, src.subarray(0, n));
          m.memory.write(B, src.subarray(0, n));
          assert.equal(m.call(0, "memcmp", [A, B, BigInt(n)]), 0n);
          if (n > 0) {
            const k = rng.below(n);
            const x = src[k]!, y = (x + 1 + rng.below(255)) & 0xff;
            m.memory.write(B + BigInt(k), new Uint8Array([y]));
            const r = BigInt.asIntN(32, m.call(0, "memcmp", [A, B, BigInt(n)]));
            assert.equal(Math.sign(Number(r)), x < y ? -1 : 1, "memcmp compares unsigned bytes");
          }
        }
        // strlen and strcmp
        for (
          const [s, u] of [["", ""], ["xen", "xen"], ["live", "livepatch"], ["\xff", "\x01"], [
            "abc",
            "abd",
          ]]
        ) {
          m.memory.write(A, new Uint8Array([...Array.from(s, (ch) => ch.charCodeAt(0)), 0]));
          m.memory.write(B, new Uint8Array([...Array.from(u, (ch) => ch.charCodeAt(0)), 0]));
          assert.equal(m.call(0, "strlen", [A]), BigInt(s.length));
          const r = Number(BigInt.asIntN(32, m.call(0, "strcmp", [A, B])));
          const js = s === u ? 0 : s < u ? -1 : 1;
          assert.equal(Math.sign(r), js, `strcmp(${JSON.stringify(s)}, ${JSON.stringify(u)})`);
        }
      });
    }
  },
});

Deno.test({
  name: "xen: snprintf and simple_strtoul, with a symbolized backtrace from inside vsnprintf",
  ignore,
  fn() {
    const m = xen();
    const fmt = BUF + 0x100n, s1 = BUF + 0x200n, s2 = BUF + 0x300n, out = BUF + 0x1000n;
    m.memory.write(fmt, text("%s=%d,%#x,%08lu,%-4s|%c%%\0"));
    m.memory.write(s1, text("xen\0"));
    m.memory.write(s2, text("ab\0"));
    const want = "xen=-42,0xbeef,00012345,ab  |Z%";
    let trace: string[] = [];
    m.hook("common/vsprintf.c#string", () => {
      if (trace.length === 0) trace = m.backtraceSymbols(0);
    });
    const args = [out, 64n, fmt, s1, BigInt.asUintN(64, -42n), 0xbeefn, 12345n, s2, 0x5an];
    assert.equal(m.call(0, "snprintf", args), BigInt(want.length));
    assert.equal(m.memory.readCString(out), want);
    assert.match(trace[0]!, /^common\/vsprintf\.c#string\+0x0\/0x[0-9a-f]+$/);
    assert.match(trace[1]!, /^vsnprintf\+0x[0-9a-f]+\/0xfe7$/);
    assert.match(trace[2]!, /^snprintf\+0x[0-9a-f]+\/0x3f$/);
    assert.equal(trace.length, 3, "the host's return trap is not part of the chain");
    // Truncation: the return value is the full length; the buffer ends with a NUL.
    args[1] = 8n;
    assert.equal(m.call(1, "snprintf", args), BigInt(want.length));
    assert.equal(m.memory.readCString(out), want.slice(0, 7));
    // simple_strtoul(cp, &end, base)
    for (
      const [s, base, value, used] of [["0x1fz", 0, 0x1f, 4], ["0777", 0, 0o777, 4], [
        "123abc",
        10,
        123,
        3,
      ], ["ff", 16, 255, 2]] as const
    ) {
      m.memory.write(s1, text(s + "\0"));
      assert.equal(m.call(0, "simple_strtoul", [s1, out, BigInt(base)]), BigInt(value), s);
      assert.equal(m.memory.readU64(out), s1 + BigInt(used));
    }
  },
});

Deno.test({
  name: "xen: sort() as Xen inlines it in sort_exception_table",
  ignore,
  fn() {
    // struct exception_table_entry { s32 addr, cont; }: both relative to the field's address.
    // Debian's 4.17 has no out-of-line sort(): xen/sort.h is extern inline, so the real sort is
    // the heapsort inlined here with cmp_ex/swap_ex.
    const m = xen();
    const rng = new Prng(1);
    for (const n of [0, 1, 2, 3, 17, 200]) {
      const base = section(".bss").address + 0x100000n; // rel32 reach of the targets, as in Xen
      const pairs: [bigint, bigint][] = [];
      const table = new DataView(new ArrayBuffer(8 * n));
      for (let k = 0; k < n; k++) {
        const abs = 0xffff82d040200000n + BigInt(rng.below(0x100000));
        const cont = 0xffff82d040300000n + BigInt(rng.below(0x1000));
        const at = base + BigInt(8 * k);
        table.setInt32(8 * k, Number(abs - at), true);
        table.setInt32(8 * k + 4, Number(cont - (at + 4n)), true);
        pairs.push([abs, cont]);
      }
      m.memory.write(base, new Uint8Array(table.buffer));
      m.call(0, "sort_exception_table", [base, base + BigInt(8 * n)]);
      const sorted = m.memory.read(base, 8 * n);
      const dv = new DataView(sorted.buffer);
      const got: [bigint, bigint][] = [];
      for (let k = 0; k < n; k++) {
        const at = base + BigInt(8 * k);
        got.push([
          at + BigInt(dv.getInt32(8 * k, true)),
          at + 4n + BigInt(dv.getInt32(8 * k + 4, true)),
        ]);
      }
      for (let k = 1; k < n; k++) {
        assert.ok(got[k - 1]![0] <= got[k]![0], `ascending at ${k} of ${n}`);
      }
      const key = (p: [bigint, bigint][]) => p.map(([a, c]) => `${a}:${c}`).sort().join();
      assert.equal(key(got), key(pairs), "the same entries, relocated");
    }
  },
});

Deno.test({
  name: "xen: notifier_call_chain calls host functions through Xen's retpolines",
  ignore,
  async fn(t) {
    for (const [label, jit] of MODES) {
      await t.step(label, () => {
        const m = xen(jit);
        // struct notifier_block { notifier_call; struct list_head chain; int priority; }
        const head = BUF, nb = (k: number) => BUF + 0x100n + BigInt(k) * 0x40n;
        const calls: [number, bigint, bigint][] = [];
        const n = 4;
        const fns = Array.from({ length: n }, (_, k) =>
          m.hostFunction((c) => {
            calls.push([k, c.getReg("rsi"), c.getReg("rdx")]);
            assert.equal(c.getReg("rdi"), nb(k), "the block is the first argument");
            return k === 2 && (c.getReg("rsi") & 1n) === 1n ? 0x8000 : 1; // STOP_MASK or OK
          }));
        const link = (k: number) => (k < 0 || k >= n ? head : nb(k) + 8n);
        m.memory.writeU64(head, link(0));
        m.memory.writeU64(head + 8n, link(n - 1));
        for (let k = 0; k < n; k++) {
          m.memory.writeU64(nb(k), fns[k]!);
          m.memory.writeU64(nb(k) + 8n, link(k + 1));
          m.memory.writeU64(nb(k) + 16n, link(k - 1));
        }
        for (let rep = 0; rep < 3; rep++) {
          calls.length = 0;
          assert.equal(m.call(0, "notifier_call_chain", [head, 0x10n, 0x1234n, 0n]), 1n);
          assert.deepEqual(calls.map((c) => c[0]), [0, 1, 2, 3]);
          assert.ok(calls.every((c) => c[1] === 0x10n && c[2] === 0x1234n));
          calls.length = 0;
          assert.equal(m.call(0, "notifier_call_chain", [head, 0x11n, 0n, 0n]), 0x8000n, "stopped");
          assert.deepEqual(calls.map((c) => c[0]), [0, 1, 2]);
          calls.length = 0;
          m.call(0, "notifier_call_chain", [head, 0x8010n, 0n, 0n]); // NOTIFY_REVERSE
          assert.deepEqual(calls.map((c) => c[0]), [3, 2, 1, 0]);
        }
        assert.equal(m.cpus[0]!.calls.frames.length, 0);
      });
    }
  },
});

Deno.test({
  name: "xen: every fault kind at real Xen instructions, with address and symbolized backtrace",
  ignore,
  fn() {
    const m = xen();
    const at = (name: string, off: number) => m.resolve(name) + BigInt(off);
    const fault = (fn: () => unknown) => expectFault(fn, CpuFault);
    // PAGE_FAULT (write) deep inside snprintf: the buffer is in read-only .rodata.
    const fmt = BUF + 0x100n;
    m.memory.write(fmt, text("%s\0"));
    m.memory.write(BUF + 0x200n, text("xen\0"));
    const ro = section(".rodata").address;
    let f = fault(() => m.call(0, "snprintf", [ro, 16n, fmt, BUF + 0x200n]));
    assert.equal(f.code, "PAGE_FAULT");
    assert.equal(f.access, "write");
    assert.equal(f.address, ro);
    const bt = m.backtraceSymbols(0);
    assert.match(bt[0]!, /^common\/vsprintf\.c#string\+0x[0-9a-f]+\/0x[0-9a-f]+$/);
    assert.match(bt[1]!, /^vsnprintf\+0x[0-9a-f]+\/0xfe7$/);
    assert.match(bt[2]!, /^snprintf\+0x[0-9a-f]+\/0x3f$/);
    assert.equal(m.symbolize(f.rip), bt[0]);
    // UD2 (Xen's BUG frames): double_fault's ud2
    f = fault(() => m.call(0, at("double_fault", 0x129)));
    assert.equal(f.code, "UD2");
    assert.equal(m.symbolize(f.rip), "double_fault+0x129/0x130");
    // BP: the int3 after the ret of __x86_return_thunk (speculation trap)
    f = fault(() => m.call(0, at("__x86_return_thunk", 1)));
    assert.equal(f.code, "BP");
    assert.equal(m.symbolize(f.rip), "__x86_return_thunk+0x1/0x2");
    // UD by design: VMX
    f = fault(() => m.call(0, at("arch/x86/hvm/vmx/intr.c#vmx_enable_intr_window", 0x46)));
    assert.equal(f.code, "UD");
    assert.equal(f.mnemonic, "Vmread");
    assert.match(f.message, /not modelled by design: Vmread at 0xffff82d0/);
    // GP: rdmsr of an MSR the model does not have (rcx = 4th argument)
    f = fault(() => m.call(0, at("kexec_crash_save_cpu", 0xdd), [0n, 0n, 0n, 0x12345n]));
    assert.equal(f.code, "GP");
    assert.equal(m.symbolize(f.rip), "kexec_crash_save_cpu+0xdd/0x152");
    // HLT
    f = fault(() => m.call(0, at("common/kexec.c#one_cpu_only", 0x30)));
    assert.equal(f.code, "HLT");
    // IO: the UART's `in` without a port handler, then with one
    f = fault(() =>
      m.call(0, at("drivers/char/ns16550.c#ns16550_tx_ready", 0x87), [0n, 0n, 0x3fdn])
    );
    assert.equal(f.code, "IO");
    assert.match(f.message, /0x3fd/);
    const c = m.cpus[1]!;
    const ports: number[] = [];
    m.onIo = (_c, port, size, value) => {
      ports.push(port, size, value ?? -1);
      return 0x60;
    };
    c.setRip(at("drivers/char/ns16550.c#ns16550_tx_ready", 0x87));
    c.setReg("rdx", 0x3fdn);
    c.run(1);
    assert.deepEqual(ports, [0x3fd, 1, -1]);
    assert.equal(c.getReg("rax") & 0xffn, 0x60n);
    // BUDGET: a budget too small for snprintf
    f = fault(() => m.call(0, "snprintf", [BUF, 16n, fmt, BUF + 0x200n], { budget: 50 }));
    assert.equal(f.code, "BUDGET");
  },
});

Deno.test({
  name: "xen: the block compiler and the interpreter agree on hundreds of real Xen functions",
  ignore,
  fn() {
    // Small .text functions called with pointers into a random buffer and random integers: the
    // outcome (rax or the fault), registers, flags, retired count and memory must be identical.
    const text = section(".text");
    const fns = index!.symbols
      .filter((s) =>
        s.type === 2 && s.size > 0n && s.size < 400n && s.value >= text.address &&
        s.value < text.address + BigInt(text.size)
      )
      .sort((a, b) => (a.value < b.value ? -1 : 1));
    const picked = fns.filter((_, k) => k % 9 === 0);
    assert.ok(picked.length > 200, `${picked.length} functions`);
    const machines = [false, { threshold: 1 }].map((jit) => {
      const m = new Machine({ cpus: 1, jit });
      loadImage(m, elf!);
      m.map({ address: BUF, data: new Uint8Array(0), size: BUF_SIZE, perms: PERM_RW });
      return m;
    });
    const rng = new Prng(20261203);
    const seed = Uint8Array.from({ length: 0x2000 }, () => rng.below(256));
    let faults = 0, returns = 0;
    for (const s of picked) {
      const args = [
        BUF + 0x100n,
        BUF + 0x900n,
        BigInt(rng.below(64)),
        BigInt(rng.next()),
        BUF + 0x1100n,
        3n,
      ];
      // Twice each: the second call runs compiled in the compiling machine.
      const outcomes = [...machines, ...machines].map((m) => {
        m.memory.write(BUF, seed);
        let r: string;
        try {
          r = `rax=${m.call(0, s.value, args, { budget: 20_000 }).toString(16)}`;
        } catch (e) {
          if (!(e instanceof CpuFault)) throw e;
          r = `${e.code}@${e.rip.toString(16)}:${e.address.toString(16)}`;
        }
        const c = m.cpus[0]!;
        const regs = [
          "rax",
          "rbx",
          "rcx",
          "rdx",
          "rsi",
          "rdi",
          "rbp",
          "rsp",
          "r8",
          "r12",
          "r15",
        ] as const;
        return [
          r,
          c.getRip(),
          c.rflags,
          c.icount,
          ...regs.map((n) => c.getReg(n)),
          m.memory.read(BUF, 0x2000).join(),
        ];
      });
      assert.deepEqual(outcomes[1], outcomes[0], index!.format(s.value));
      assert.deepEqual(outcomes[3], outcomes[2], `${index!.format(s.value)} (second call)`);
      if ((outcomes[0]![0] as string).startsWith("rax")) returns++;
      else faults++;
    }
    assert.ok(returns > 50 && faults > 20, `${returns} returned, ${faults} faulted`);
    console.log(`${picked.length} functions: ${returns} returned, ${faults} faulted`);
    assert.ok(machines[1]!.cpus[0]!.jit!.compiled > 100);
  },
});
