/*
 * arch/x86/smp.c - CPU bring-up bookkeeping.
 */
#include "minivisor.h"

unsigned int cpu_online_map;
unsigned int smp_cpus_prepared;

/*
 * Same name as common/sched.c#init_one: this one is
 * "arch/x86/smp.c#init_one" in Xen's symbol table.
 */
static noinline used int init_one(void)
{
    smp_cpus_prepared = NR_CPUS;
    return NR_CPUS * 3;
}

void smp_prepare_cpus(void)
{
    if ( init_one() != NR_CPUS * 3 )
        printk("smp: init_one failed\n");
    __atomic_fetch_or(&cpu_online_map, 1u << smp_processor_id(), __ATOMIC_SEQ_CST);
}

unsigned int num_online_cpus(void)
{
    unsigned int map = ACCESS_ONCE(cpu_online_map), n = 0;

    for ( ; map; map &= map - 1 )
        n++;

    return n;
}

/*
 * C entry of a secondary CPU (from ap_start in arch/x86/entry.S).  The
 * emulator has pointed %rsp into cpu_stacks[cpu] and filled
 * cpu_info->processor_id.
 */
void noreturn start_secondary(void)
{
    unsigned int cpu = smp_processor_id();

    idle_vcpu_init(cpu);
    __atomic_fetch_or(&cpu_online_map, 1u << cpu, __ATOMIC_SEQ_CST);
    startup_cpu_idle_loop();
}
