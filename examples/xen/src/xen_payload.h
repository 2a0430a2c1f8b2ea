/*
 * The pieces of Xen's headers the xen-syms payloads need, written for this
 * tree (Xen's own headers are not installed): alternative(), get_unsafe()
 * with its exception-table fixup, and BUG_ON() with its bug frame, in the
 * layouts Xen 4.17 reads (struct alt_instr, 14 bytes packed; ex_table
 * entries {s32 addr, s32 cont} relative to themselves; struct bug_frame).
 */
#ifndef XEN_PAYLOAD_H
#define XEN_PAYLOAD_H

#include "livepatch.h"

#define EFAULT 14

/* X86_FEATURE_FPU: word 0 (CPUID.1:EDX) bit 0, present on every x86-64 CPU. */
#define LIVEPATCH_FEATURE 0

/* alternative(ASM_NOP8, ASM_NOP1, feature) */
#define alternative_nop8_nop1(feature)                                          \
    asm volatile ( "661: .byte 0x0f,0x1f,0x84,0x00,0x00,0x00,0x00,0x00\n"       \
                   "662:\n"                                                     \
                   ".pushsection .altinstructions, \"a\", @progbits\n"          \
                   " .long 661b - .\n"                                          \
                   " .long 663f - .\n"                                          \
                   " .word %c0\n"                                               \
                   " .byte 662b - 661b\n"                                       \
                   " .byte 664f - 663f\n"                                       \
                   " .byte 0\n"                                                 \
                   " .byte 0\n"                                                 \
                   ".popsection\n"                                              \
                   ".pushsection .altinstr_replacement, \"ax\", @progbits\n"    \
                   "663: nop\n"                                                 \
                   "664:\n"                                                     \
                   ".popsection\n" :: "i" (feature) )

/* get_unsafe(): 0, or -EFAULT with *val = 0 when the load faults. */
static inline int get_unsafe_ul(unsigned long *val, const unsigned long *ptr)
{
    int rc = 0;
    unsigned long v;

    asm volatile ( "1: mov (%[ptr]), %[v]\n"
                   "2:\n"
                   ".pushsection .fixup, \"ax\", @progbits\n"
                   "3: mov %[efault], %[rc]\n"
                   "   xor %k[v], %k[v]\n"
                   "   jmp 2b\n"
                   ".popsection\n"
                   ".pushsection .ex_table, \"a\", @progbits\n"
                   " .balign 4\n"
                   " .long 1b - ., 3b - .\n"
                   ".popsection\n"
                   : [rc] "+r" (rc), [v] "=&r" (v)
                   : [ptr] "r" (ptr), [efault] "i" (-EFAULT) );
    *val = v;
    return rc;
}

/* BUG_ON(): ud2 described by a BUGFRAME_bug frame (file name and line). */
#define BUG_LINE_HI(l) ((((l) >> 7) & 0x7f) << 24)
#define BUG_LINE_LO(l) (((l) & 0x7f) << 24)
#define BUG_ON(cond) do {                                                       \
    if ( cond )                                                                 \
        asm volatile ( "1: ud2\n"                                               \
                       ".pushsection .bug_frames.2, \"a\", @progbits\n"         \
                       " .p2align 2\n"                                          \
                       "2:\n"                                                   \
                       " .long (1b - 2b) + %c1\n"                               \
                       " .long (%c0 - 2b) + %c2\n"                              \
                       ".popsection\n"                                          \
                       :: "i" (__FILE__), "i" (BUG_LINE_HI(__LINE__)),          \
                          "i" (BUG_LINE_LO(__LINE__)) );                        \
} while ( 0 )

#endif /* XEN_PAYLOAD_H */
