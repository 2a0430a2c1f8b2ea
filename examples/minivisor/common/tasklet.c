/*
 * common/tasklet.c - per-CPU singly linked tasklet queues.
 *
 * do_tasklet() runs at most one tasklet per call, like Xen's.  The
 * emulator can queue work on a CPU by calling schedule_long_work(cpu, n),
 * which makes that CPU spend long_running_work(n) in its next do_tasklet()
 * (i.e. away from check_for_livepatch_work) - a way to delay a rendezvous.
 */
#include "minivisor.h"

struct tasklet *tasklet_list[NR_CPUS];
unsigned long long_work_result[NR_CPUS];
static struct tasklet long_work_tasklet[NR_CPUS];

void tasklet_schedule_on_cpu(struct tasklet *t, unsigned int cpu)
{
    struct tasklet **pp;

    if ( t->scheduled )
        return;
    t->scheduled = 1;
    t->cpu = cpu;
    t->next = NULL;
    for ( pp = &tasklet_list[cpu]; *pp; pp = &(*pp)->next )
        ;
    *pp = t;
}

bool tasklet_work_to_do(unsigned int cpu)
{
    return ACCESS_ONCE(tasklet_list[cpu]) != NULL;
}

void do_tasklet(void)
{
    unsigned int cpu = smp_processor_id();
    struct tasklet *t = tasklet_list[cpu];

    if ( !t )
        return;

    tasklet_list[cpu] = t->next;
    t->next = NULL;
    t->scheduled = 0;
    percpu_stats[cpu].tasklets_run++;
    t->func(t->data);                       /* indirect call via thunk */
}

static void long_work_fn(unsigned long iterations)
{
    long_work_result[smp_processor_id()] = long_running_work(iterations);
}

void schedule_long_work(unsigned int cpu, unsigned long iterations)
{
    struct tasklet *t = &long_work_tasklet[cpu];

    t->func = long_work_fn;
    t->data = iterations;
    tasklet_schedule_on_cpu(t, cpu);
}
