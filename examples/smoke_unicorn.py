#!/usr/bin/env python3
"""Boot bin/minivisor under Unicorn (Debian: python3-unicorn) as a development smoke test.

Not part of the test suite. It checks the emulator contract described in examples/README.md:
CPU 0 boots from _start and CPUs 1..3 from ap_start, each reaching the idle loop's hlt. The script
then makes a few hypercalls through do_hypercall and hand-applies a jump patch (e9 rel32 at
xen_extra_version+4) and a NOP patch (bytes [4, 11) of bump_event_counter).

    python3 examples/smoke_unicorn.py [path/to/minivisor]
"""
import os
import struct
import subprocess
import sys

from unicorn import Uc, UcError, UC_ARCH_X86, UC_MODE_64, UC_HOOK_CODE
from unicorn.x86_const import (UC_X86_REG_RAX, UC_X86_REG_RCX, UC_X86_REG_RDI, UC_X86_REG_RDX,
                               UC_X86_REG_R8, UC_X86_REG_R9, UC_X86_REG_RIP, UC_X86_REG_RSI,
                               UC_X86_REG_RSP)

HERE = os.path.dirname(os.path.abspath(__file__))
IMAGE = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "bin", "minivisor")
STACK_SIZE, CPUINFO = 0x8000, 0x7fc0
SENTINEL, GUEST = 0x100000, 0x200000        # return address (holds hlt), guest buffer

data = open(IMAGE, "rb").read()
syms = {}
for line in subprocess.run(["nm", IMAGE], capture_output=True, text=True, check=True).stdout.splitlines():
    f = line.split()
    if len(f) == 3:
        syms[f[2]] = int(f[0], 16)

mu = Uc(UC_ARCH_X86, UC_MODE_64)
phoff, = struct.unpack_from("<Q", data, 32)
phnum, = struct.unpack_from("<H", data, 56)
for i in range(phnum):
    p_type, _, off, vaddr, _, filesz, memsz, _ = struct.unpack_from("<IIQQQQQQ", data, phoff + 56 * i)
    if p_type == 1:                          # PT_LOAD; .bss stays zero
        start, end = vaddr & ~0xfff, (vaddr + memsz + 0xfff) & ~0xfff
        mu.mem_map(start, end - start)
        mu.mem_write(vaddr, data[off:off + filesz])
mu.mem_map(SENTINEL, 0x1000)
mu.mem_write(SENTINEL, b"\xf4")
mu.mem_map(GUEST, 0x1000)

STACKS = syms["cpu_stacks"]
u32 = lambda a: struct.unpack("<I", mu.mem_read(a, 4))[0]


def run(start, rsp=None):
    """Run until hlt (Unicorn stops there). Returns the number of instructions executed."""
    if rsp is not None:
        mu.reg_write(UC_X86_REG_RSP, rsp)
    n = [0]
    h = mu.hook_add(UC_HOOK_CODE, lambda uc, a, s, d: n.__setitem__(0, n[0] + 1))
    try:
        mu.emu_start(start, 0, count=5_000_000)
    except UcError as ex:
        sys.exit(f"FAIL: {ex} at {mu.reg_read(UC_X86_REG_RIP):#x}")
    finally:
        mu.hook_del(h)
    return n[0]


def call(fn, cpu, *args):
    rsp = STACKS + cpu * STACK_SIZE + CPUINFO - 0x100
    mu.mem_write(rsp, struct.pack("<Q", SENTINEL))
    regs = [UC_X86_REG_RDI, UC_X86_REG_RSI, UC_X86_REG_RDX, UC_X86_REG_RCX, UC_X86_REG_R8,
            UC_X86_REG_R9]
    for r, v in zip(regs, args):
        mu.reg_write(r, v)
    run(syms[fn], rsp)
    assert mu.reg_read(UC_X86_REG_RIP) in (SENTINEL, SENTINEL + 1), f"{fn} did not return"
    return struct.unpack("<q", struct.pack("<Q", mu.reg_read(UC_X86_REG_RAX)))[0]


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        sys.exit(1)


n = run(syms["_start"])
console = bytes(mu.mem_read(syms["console_ring"], u32(syms["console_prod"]))).decode()
check(mu.mem_read(mu.reg_read(UC_X86_REG_RIP) - 1, 1) == b"\xf4", f"CPU 0 reached hlt ({n} insns)")
check("Xen 4.17-minivisor booting" in console, "boot banner in console_ring")
for cpu in (1, 2, 3):
    mu.mem_write(STACKS + cpu * STACK_SIZE + CPUINFO, struct.pack("<I", cpu))
    run(syms["ap_start"], STACKS + cpu * STACK_SIZE + 0x1234)
check(u32(syms["cpu_online_map"]) == 0xf, "all 4 CPUs online")
for cpu in range(4):
    pid, flags, vcpu, _, magic = struct.unpack("<IIQQQ", mu.mem_read(STACKS + cpu * STACK_SIZE + CPUINFO, 32))
    check(pid == cpu and flags == 1 and vcpu == syms["idle_vcpu"] + 24 * cpu and magic == 0x4F464E4955504321,
          f"cpu_info of CPU {cpu}")


def extraversion():
    assert call("do_hypercall", 1, 17, 1, GUEST) == 0
    return bytes(mu.mem_read(GUEST, 16)).split(b"\0")[0]


check(call("do_hypercall", 2, 17, 0) == 0x40011, "XENVER_version = 4.17")
check(extraversion() == b"-minivisor", "XENVER_extraversion = -minivisor")
old, new = syms["xen_extra_version"], syms["xen_changeset"]
mu.mem_write(old + 4, b"\xe9" + struct.pack("<i", new - (old + 4 + 5)))
check(extraversion() == b"lpkit minivisor", "jump patch at xen_extra_version+4 takes effect")
call("do_hypercall", 0, 29, 0)
check(u32(syms["event_counter"]) == 1, "SCHEDOP_yield bumps event_counter")
mu.mem_write(syms["bump_event_counter"] + 4, bytes.fromhex("0f1f8000000000"))
call("do_hypercall", 0, 29, 0)
check(u32(syms["event_counter"]) == 1, "NOP patch of bump_event_counter[4:11] stops counting")
mu.mem_write(GUEST, struct.pack("<QQ", 1000, 0))
call("do_hypercall", 3, 29, 64, GUEST)
check(struct.unpack("<QQ", mu.mem_read(GUEST, 16))[1] == 0x3817310A350C25E8, "long_running_work(1000)")
check(call("do_hypercall", 0, 5, 0) == -38, "unknown hypercall = -ENOSYS")
