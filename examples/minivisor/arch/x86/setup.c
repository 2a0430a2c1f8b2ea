/*
 * arch/x86/setup.c - boot CPU initialisation.
 */
#include "minivisor.h"

char cpu_stacks[NR_CPUS][STACK_SIZE] aligned(STACK_SIZE);
struct percpu_stats percpu_stats[NR_CPUS] aligned(64);
enum system_state system_state;

/*
 * Entered from _start (arch/x86/entry.S) on CPU 0's stack.  .bss is
 * expected to be zero (the emulator maps it as zero-filled memory).
 */
void noreturn __start_xen(void)
{
    system_state = SYS_STATE_boot;

    idle_vcpu_init(0);

    printk("minivisor: Xen ");
    printk_u(xen_major_version());
    printk(".");
    printk_u(xen_minor_version());
    printk(xen_extra_version());
    printk(" booting\n");

    softirq_init();
    scheduler_init();
    smp_prepare_cpus();

    /* Created out of order on purpose; domain_sort() uses sort(). */
    domain_create(0, "Domain-0", 65536, NR_CPUS);
    domain_create(5, "guest5", 4096, 1);
    domain_create(2, "guest2", 8192, 2);
    domain_create(3, "guest3", 2048, 1);
    domain_sort();

    system_state = SYS_STATE_active;
    printk("minivisor: entering idle loop\n");

    startup_cpu_idle_loop();
}
