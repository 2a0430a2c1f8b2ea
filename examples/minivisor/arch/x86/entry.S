/*
 * arch/x86/entry.S - entry points.
 *
 * _start:   boot CPU.  Switches to CPU 0's stack (cpu_stacks[0]), writes
 *           processor_id = 0 into its cpu_info and calls __start_xen.
 * ap_start: secondary CPUs.  The emulator sets %rsp anywhere inside
 *           cpu_stacks[N] and writes processor_id = N into that stack's
 *           cpu_info; ap_start re-aligns %rsp to the cpu_info and calls
 *           start_secondary.
 */
#include "minivisor.h"

        .section .text.entry, "ax", @progbits

        .globl _start
        .type _start, @function
_start:
        endbr64
        lea     cpu_stacks + STACK_SIZE - CPUINFO_sizeof(%rip), %rsp
        movl    $0, CPUINFO_processor_id(%rsp)
        xor     %ebp, %ebp
        call    __start_xen
        ud2
        .size _start, . - _start

        .globl ap_start
        .type ap_start, @function
ap_start:
        endbr64
        or      $(STACK_SIZE - 1), %rsp
        sub     $(CPUINFO_sizeof - 1), %rsp
        xor     %ebp, %ebp
        call    start_secondary
        ud2
        .size ap_start, . - ap_start

        .section .note.GNU-stack, "", @progbits
