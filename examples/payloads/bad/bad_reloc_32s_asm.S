/*
 * An R_X86_64_32S relocation ("movq $sym, %rax") in .text; Xen only
 * supports R_X86_64_{NONE,64,PC32,PLT32} (-EOPNOTSUPP).
 */
        .section .text.bad_reloc_32s, "ax", @progbits
        .globl bad_reloc_32s_fn
        .type bad_reloc_32s_fn, @function
bad_reloc_32s_fn:
        endbr64
        movq    $xen_extra_version, %rax
        jmp     __x86_return_thunk
        .size bad_reloc_32s_fn, . - bad_reloc_32s_fn
        .section .note.GNU-stack, "", @progbits
