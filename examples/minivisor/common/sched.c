/*
 * common/sched.c - a pretend scheduler: SCHEDOP_* and long_running_work().
 */
#include "minivisor.h"
#include "public.h"

unsigned long sched_yields;
unsigned long sched_blocks;
unsigned int sched_granularity;
unsigned int sched_initialised;

/*
 * Same name as arch/x86/smp.c#init_one: Xen's symbol table calls this one
 * "common/sched.c#init_one".
 */
static noinline used int init_one(void)
{
    sched_granularity = 1;
    sched_initialised++;
    return sched_granularity + 1;
}

void scheduler_init(void)
{
    if ( init_one() != 2 )
        printk("sched: init_one failed\n");
}

/* SCHEDULE_SOFTIRQ handler. */
void schedule(void)
{
    percpu_stats[smp_processor_id()].schedules++;
}

/*
 * Busy work used to keep one CPU away from the idle loop (and hence from
 * the live-patch rendezvous) for a while.  Returns a checksum so the work
 * cannot be optimised away; long_running_work(0) == 0.
 */
noinline used unsigned long long_running_work(unsigned long iterations)
{
    unsigned long x = 0x9e3779b97f4a7c15UL, sum = 0, i;

    for ( i = 0; i < iterations; i++ )
    {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        sum += x * (i | 1);
    }

    return sum;
}

long do_sched_op(int cmd, void *arg)
{
    struct vcpu *v = current;

    switch ( cmd )
    {
    case SCHEDOP_yield:
        sched_yields++;
        bump_event_counter();
        cpu_raise_softirq(smp_processor_id(), SCHEDULE_SOFTIRQ);
        return 0;

    case SCHEDOP_block:
        sched_blocks++;
        return 0;

    case SCHEDOP_shutdown:
    {
        const struct sched_shutdown *s = arg;

        if ( !v || !v->domain )
            return -EINVAL;
        v->domain->shutdown_code = s->reason;
        v->domain->flags |= DOMF_shutdown;
        return 0;
    }

    case SCHEDOP_minivisor_work:
    {
        struct sched_work *w = arg;

        w->checksum = long_running_work(w->iterations);
        return 0;
    }
    }

    return -ENOSYS;
}
