/*
 * arch/x86/indirect-thunk.S - Xen's retpoline and return thunks.
 *
 * __x86_indirect_thunk_<reg> is a real retpoline, byte-for-byte Xen's
 * shape: "call 1f; int3; 1: mov %reg,(%rsp); ret".  It emulates correctly
 * with plain call/mov/ret semantics.
 * __x86_return_thunk is "ret; int3", as in Xen 4.17.7.
 */
        .section .text.__x86_return_thunk, "ax", @progbits
        .globl __x86_return_thunk
        .type __x86_return_thunk, @function
        .p2align 4
__x86_return_thunk:
        ret
        int3
        .size __x86_return_thunk, . - __x86_return_thunk

        .section .text.__x86_indirect_thunk, "ax", @progbits

.macro IND_THUNK reg:req
        .globl __x86_indirect_thunk_\reg
        .type __x86_indirect_thunk_\reg, @function
        .p2align 4
__x86_indirect_thunk_\reg:
        call    1f
        int3
1:
        mov     %\reg, (%rsp)
        ret
        int3
        .size __x86_indirect_thunk_\reg, . - __x86_indirect_thunk_\reg
.endm

        IND_THUNK rax
        IND_THUNK rbx
        IND_THUNK rcx
        IND_THUNK rdx
        IND_THUNK rsi
        IND_THUNK rdi
        IND_THUNK rbp
        IND_THUNK r8
        IND_THUNK r9
        IND_THUNK r10
        IND_THUNK r11
        IND_THUNK r12
        IND_THUNK r13
        IND_THUNK r14
        IND_THUNK r15

        .section .note.GNU-stack, "", @progbits
