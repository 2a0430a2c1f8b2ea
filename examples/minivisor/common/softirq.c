/*
 * common/softirq.c - per-CPU pending bitmaps and a handler table.
 */
#include "minivisor.h"

unsigned long softirq_pending[NR_CPUS];
static void (*softirq_handlers[NR_SOFTIRQS])(void);

void open_softirq(int nr, void (*handler)(void))
{
    softirq_handlers[nr] = handler;
}

void cpu_raise_softirq(unsigned int cpu, unsigned int nr)
{
    __atomic_fetch_or(&softirq_pending[cpu], 1UL << nr, __ATOMIC_SEQ_CST);
}

void do_softirq(void)
{
    unsigned int cpu = smp_processor_id();
    unsigned long pending;

    /* Take every pending bit at once (xchg), then run the handlers. */
    while ( (pending = __atomic_exchange_n(&softirq_pending[cpu], 0,
                                           __ATOMIC_SEQ_CST)) != 0 )
    {
        unsigned int i;

        for ( i = 0; i < NR_SOFTIRQS; i++ )
        {
            if ( !(pending & (1UL << i)) || !softirq_handlers[i] )
                continue;
            percpu_stats[cpu].softirqs_run++;
            softirq_handlers[i]();          /* indirect call via thunk */
        }
    }
}

static void timer_softirq_action(void)
{
    percpu_stats[smp_processor_id()].timer_ticks++;
}

void softirq_init(void)
{
    open_softirq(TIMER_SOFTIRQ, timer_softirq_action);
    open_softirq(SCHEDULE_SOFTIRQ, schedule);
}
