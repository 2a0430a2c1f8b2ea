/*
 * arch/x86/hypercall.c - hypercall_table[] and the dispatcher.
 */
#include "minivisor.h"
#include "public.h"

typedef long hypercall_fn_t(unsigned long, unsigned long, unsigned long,
                            unsigned long, unsigned long);

static long do_ni_hypercall(void)
{
    return -ENOSYS;
}

#define HC(fn) ((hypercall_fn_t *)(fn))

hypercall_fn_t *const hypercall_table[NR_hypercalls] = {
    [0 ... NR_hypercalls - 1]    = HC(do_ni_hypercall),
    [__HYPERVISOR_xen_version]   = HC(do_xen_version),
    [__HYPERVISOR_console_io]    = HC(do_console_io),
    [__HYPERVISOR_sched_op]      = HC(do_sched_op),
    [__HYPERVISOR_domctl]        = HC(do_domctl),
};

/*
 * The emulator "makes a hypercall" by calling this with the SysV argument
 * registers (nr in %rdi, arguments in %rsi, %rdx, %rcx, %r8, %r9).
 */
long do_hypercall(unsigned long nr, unsigned long a1, unsigned long a2,
                  unsigned long a3, unsigned long a4, unsigned long a5)
{
    unsigned int cpu = smp_processor_id();
    long rc;

    if ( nr >= NR_hypercalls )
        return -ENOSYS;

    percpu_stats[cpu].hypercalls++;
    rc = hypercall_table[nr](a1, a2, a3, a4, a5);   /* call via thunk */
    percpu_stats[cpu].last_hypercall_rc = rc;

    return rc;
}
