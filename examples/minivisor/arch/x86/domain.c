/*
 * arch/x86/domain.c - idle vCPUs and the idle loop.
 */
#include "minivisor.h"

struct domain idle_domain = {
    .domain_id = DOMID_IDLE,
    .max_vcpus = NR_CPUS,
    .name = "idle",
};

struct vcpu idle_vcpu[NR_CPUS];

/* Called by each CPU on its own stack: fill in the rest of its cpu_info. */
void idle_vcpu_init(unsigned int cpu)
{
    struct cpu_info *ci = get_cpu_info();
    struct vcpu *v = &idle_vcpu[cpu];

    v->vcpu_id = cpu;
    v->processor = cpu;
    v->domain = &idle_domain;

    ci->current_vcpu = v;
    ci->stack_base = (unsigned long)cpu_stacks[cpu];
    ci->magic = CPUINFO_MAGIC;
}

/*
 * Every CPU ends up here and never leaves.  Each iteration runs (at most)
 * one tasklet, then the live-patch rendezvous check, then softirqs, and
 * finally pauses - and halts if there is nothing left to do.  An emulator
 * should treat "hlt" as "wait until another CPU/the host gives this CPU
 * work" (or simply as a no-op).
 */
void noreturn idle_loop(void)
{
    unsigned int cpu = smp_processor_id();

    for ( ; ; )
    {
        percpu_stats[cpu].idle_loops++;

        do_tasklet();
        check_for_livepatch_work();
        do_softirq();

        cpu_relax();
        if ( !tasklet_work_to_do(cpu) && !ACCESS_ONCE(softirq_pending[cpu]) &&
             !ACCESS_ONCE(livepatch_work_to_do[cpu]) )
            halt();
    }
}

void noreturn startup_cpu_idle_loop(void)
{
    struct cpu_info *ci = get_cpu_info();

    ci->flags |= CPUINFO_ONLINE;
    idle_loop();
}
