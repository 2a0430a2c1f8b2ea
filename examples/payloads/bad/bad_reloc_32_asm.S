/*
 * An R_X86_64_32 relocation (".long sym") in .rodata; Xen only supports
 * R_X86_64_{NONE,64,PC32,PLT32} (-EOPNOTSUPP).  Linked with bad_reloc_32.c (the funcs table).
 */
        .section .rodata.bad_reloc_32, "a", @progbits
        .globl bad_reloc_32_abs32
bad_reloc_32_abs32:
        .long xen_extra_version
        .section .note.GNU-stack, "", @progbits
