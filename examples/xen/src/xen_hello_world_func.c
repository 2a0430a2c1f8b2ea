/*
 * Replacement for Xen 4.17's xen_extra_version(), shaped like Xen's in-tree
 * xen/test/livepatch/xen_hello_world_func.c: an alternative() site, a load
 * from a non-canonical address fixed up through the exception table (Xen's
 * get_unsafe), and a BUG_ON that must not fire. Built against Debian's
 * xen-syms; every piece exercises what the hypervisor does at upload
 * (.altinstructions, .ex_table, .bug_frames.2) and at run time.
 */
#include "xen_payload.h"

static unsigned long *const xen_hello_non_canonical_addr = (unsigned long *)0xdead000000000000UL;

const char *xen_hello_world(void)
{
    unsigned long tmp;
    int rc;

    alternative_nop8_nop1(LIVEPATCH_FEATURE);

    rc = get_unsafe_ul(&tmp, xen_hello_non_canonical_addr);
    BUG_ON(rc != -EFAULT);

    return "Hello World";
}
