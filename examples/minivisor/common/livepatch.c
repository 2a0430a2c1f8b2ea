/*
 * common/livepatch.c - the rendezvous hook.
 *
 * In Xen, check_for_livepatch_work() is where every CPU parks while a
 * payload is applied.  lpkit's simulated host intercepts this function by
 * address and performs the rendezvous itself; the body below only keeps
 * the per-CPU bookkeeping honest when it is not intercepted.
 */
#include "minivisor.h"

struct livepatch_work livepatch_work;
unsigned char livepatch_work_to_do[NR_CPUS];

noinline used void check_for_livepatch_work(void)
{
    unsigned int cpu = smp_processor_id();

    percpu_stats[cpu].livepatch_checks++;

    if ( system_state != SYS_STATE_active || !ACCESS_ONCE(livepatch_work_to_do[cpu]) )
        return;

    livepatch_work_to_do[cpu] = 0;
    if ( !ACCESS_ONCE(livepatch_work.do_work) )
        return;

    __atomic_fetch_add(&livepatch_work.semaphore, 1, __ATOMIC_SEQ_CST);
}
