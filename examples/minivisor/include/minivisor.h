/*
 * minivisor.h - everything the minivisor's C files share.
 *
 * The minivisor is a tiny, Xen-shaped "hypervisor" that exists only to be
 * live-patched inside lpkit's emulator.  It is never run natively.
 *
 * Like Xen (include/xen/compiler.h) every symbol is hidden, so that code
 * compiled with -fpie addresses other translation units RIP-relatively and
 * no GOT is needed.
 */
#ifndef MINIVISOR_H
#define MINIVISOR_H

#pragma GCC visibility push(hidden)

#define NR_CPUS            4
#define STACK_ORDER        3
#define PAGE_SIZE          4096
#define STACK_SIZE         (PAGE_SIZE << STACK_ORDER)   /* 32 KiB, as Xen */

/*
 * struct cpu_info: 64 bytes at the very top of each CPU's stack.
 *
 *   cpu_stacks[cpu] .. +0x7fc0   stack (grows down from the cpu_info)
 *   +0x7fc0  u32  processor_id      written by the emulator before entry
 *   +0x7fc4  u32  flags             CPUINFO_ONLINE once the CPU is in idle_loop
 *   +0x7fc8  u64  current_vcpu      &idle_vcpu[cpu], set by the CPU itself
 *   +0x7fd0  u64  stack_base        &cpu_stacks[cpu][0], set by the CPU itself
 *   +0x7fd8  u64  magic             CPUINFO_MAGIC once initialised
 *   +0x7fe0  u64  _rsvd[4]          zero
 *
 * It is found Xen-style from any stack address:
 *   (struct cpu_info *)((rsp | (STACK_SIZE - 1)) + 1) - 1
 * i.e. "or $0x7fff, %rax" followed by negative displacements.
 */
#define CPUINFO_sizeof          64
#define CPUINFO_processor_id    0
#define CPUINFO_flags           4
#define CPUINFO_current_vcpu    8
#define CPUINFO_stack_base      16
#define CPUINFO_magic           24
#define CPUINFO_ONLINE          1u
#define CPUINFO_MAGIC           0x4f464e4955504321UL   /* "!CPUINFO" */

#ifndef __ASSEMBLY__

typedef unsigned char       uint8_t;
typedef unsigned short      uint16_t;
typedef unsigned int        uint32_t;
typedef unsigned long       uint64_t;
typedef long                int64_t;
typedef unsigned long       size_t;
typedef unsigned long       uintptr_t;
typedef _Bool               bool;
#define true  1
#define false 0
#define NULL  ((void *)0)

#define noinline        __attribute__((__noinline__))
#define used            __attribute__((__used__))
#define noreturn        __attribute__((__noreturn__))
#define always_inline   inline __attribute__((__always_inline__))
#define aligned(x)      __attribute__((__aligned__(x)))
#define unlikely(x)     __builtin_expect(!!(x), 0)
#define ARRAY_SIZE(a)   (sizeof(a) / sizeof((a)[0]))
#define ACCESS_ONCE(x)  (*(volatile __typeof__(x) *)&(x))

#define EPERM    1
#define ENOENT   2
#define ESRCH    3
#define EFAULT  14
#define EBUSY   16
#define EINVAL  22
#define EACCES  13
#define ENOSYS  38
#define ENOBUFS 105

struct domain;

struct vcpu {
    int              vcpu_id;       /* 0x00 */
    unsigned int     processor;     /* 0x04 */
    struct domain   *domain;        /* 0x08 */
    unsigned long    runstate;      /* 0x10 */
};

struct domain {
    uint16_t         domain_id;     /* 0x00 */
    uint16_t         _pad;
    unsigned int     flags;         /* 0x04: DOMF_* */
    unsigned int     pause_count;   /* 0x08 */
    unsigned int     max_vcpus;     /* 0x0c */
    unsigned long    tot_pages;     /* 0x10 */
    unsigned long    max_pages;     /* 0x18 */
    unsigned int     shutdown_code; /* 0x20 */
    unsigned int     _pad2;
    char             name[16];      /* 0x28 */
};                                  /* 0x38 = 56 bytes */

#define DOMF_paused    (1u << 0)
#define DOMF_shutdown  (1u << 1)
#define DOMID_IDLE     0x7fffU
#define MAX_DOMAINS    8

struct cpu_info {
    unsigned int     processor_id;
    unsigned int     flags;
    struct vcpu     *current_vcpu;
    unsigned long    stack_base;
    unsigned long    magic;
    unsigned long    _rsvd[4];
};

_Static_assert(sizeof(struct cpu_info) == CPUINFO_sizeof, "cpu_info size");
_Static_assert(__builtin_offsetof(struct cpu_info, current_vcpu) == CPUINFO_current_vcpu, "cpu_info");
_Static_assert(__builtin_offsetof(struct cpu_info, magic) == CPUINFO_magic, "cpu_info");

static always_inline struct cpu_info *get_cpu_info(void)
{
    unsigned long sp;

    asm volatile ( "mov %%rsp, %0" : "=r" (sp) );
    return (struct cpu_info *)((sp | (STACK_SIZE - 1)) + 1) - 1;
}

#define smp_processor_id() (get_cpu_info()->processor_id)
#define current            (get_cpu_info()->current_vcpu)

/* Per-CPU counters, one 64-byte line per CPU, indexed by processor_id. */
struct percpu_stats {
    unsigned long    idle_loops;        /* 0x00 */
    unsigned long    tasklets_run;      /* 0x08 */
    unsigned long    softirqs_run;      /* 0x10 */
    unsigned long    livepatch_checks;  /* 0x18 */
    unsigned long    hypercalls;        /* 0x20 */
    unsigned long    timer_ticks;       /* 0x28 */
    unsigned long    schedules;         /* 0x30 */
    long             last_hypercall_rc; /* 0x38 */
};
extern struct percpu_stats percpu_stats[NR_CPUS];

extern char cpu_stacks[NR_CPUS][STACK_SIZE];
extern struct vcpu idle_vcpu[NR_CPUS];
extern struct domain idle_domain;
extern struct domain domain_list[MAX_DOMAINS];
extern unsigned int nr_domains;
extern unsigned int cpu_online_map;

enum system_state { SYS_STATE_early_boot, SYS_STATE_boot, SYS_STATE_active };
extern enum system_state system_state;

static always_inline void cpu_relax(void) { asm volatile ( "pause" ::: "memory" ); }
static always_inline void halt(void) { asm volatile ( "hlt" ::: "memory" ); }

/* lib/ */
void *memcpy(void *dst, const void *src, size_t n);
void *memset(void *s, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
size_t strlcpy(char *dst, const char *src, size_t size);
void sort(void *base, size_t num, size_t size,
          int (*cmp)(const void *, const void *),
          void (*swap)(void *, void *, size_t));

/* common/version.c */
const char *xen_compile_date(void);
const char *xen_compile_time(void);
const char *xen_compile_by(void);
const char *xen_compile_domain(void);
const char *xen_compiler(void);
const char *xen_changeset(void);
const char *xen_extra_version(void);
const char *xen_deny(void);
unsigned int xen_major_version(void);
unsigned int xen_minor_version(void);
int xen_build_id(const void **p, unsigned int *len);

/* common/console.c */
extern char console_ring[4096];
extern unsigned int console_prod;
void console_write(const char *s, unsigned int len);
void printk(const char *s);
void printk_u(unsigned long v);

/* common/kernel.c */
extern unsigned int event_counter;
void bump_event_counter(void);
__attribute__((__nocf_check__)) int small_ret0(void);
int small_endbr_ret0(void);
long do_xen_version(int cmd, void *arg);

/* common/sched.c */
extern unsigned long sched_yields;
void scheduler_init(void);
void schedule(void);
long do_sched_op(int cmd, void *arg);
unsigned long long_running_work(unsigned long iterations);

/* common/softirq.c */
#define TIMER_SOFTIRQ     0
#define SCHEDULE_SOFTIRQ  1
#define NR_SOFTIRQS       2
extern unsigned long softirq_pending[NR_CPUS];
void open_softirq(int nr, void (*handler)(void));
void cpu_raise_softirq(unsigned int cpu, unsigned int nr);
void do_softirq(void);
void softirq_init(void);

/* common/tasklet.c */
struct tasklet {
    struct tasklet  *next;                   /* 0x00 */
    void           (*func)(unsigned long);   /* 0x08 */
    unsigned long    data;                   /* 0x10 */
    unsigned int     scheduled;              /* 0x18 */
    unsigned int     cpu;                    /* 0x1c */
};
extern struct tasklet *tasklet_list[NR_CPUS];
extern unsigned long long_work_result[NR_CPUS];
void tasklet_schedule_on_cpu(struct tasklet *t, unsigned int cpu);
bool tasklet_work_to_do(unsigned int cpu);
void do_tasklet(void);
void schedule_long_work(unsigned int cpu, unsigned long iterations);

/* common/livepatch.c */
struct livepatch_work {
    unsigned int     do_work;       /* 0x00: an action is pending */
    int              semaphore;     /* 0x04: CPUs that arrived */
    unsigned int     ready;         /* 0x08 */
    unsigned int     _pad;
};
extern struct livepatch_work livepatch_work;
extern unsigned char livepatch_work_to_do[NR_CPUS];
void check_for_livepatch_work(void);

/* common/domctl.c */
struct domain *get_domain_by_id(unsigned int domid);
struct domain *domain_create(unsigned int domid, const char *name,
                             unsigned long pages, unsigned int vcpus);
void domain_sort(void);
long do_domctl(void *u_domctl);

/* common/console.c */
long do_console_io(int cmd, unsigned int count, char *buf);

/* arch/x86/hypercall.c */
long do_hypercall(unsigned long nr, unsigned long a1, unsigned long a2,
                  unsigned long a3, unsigned long a4, unsigned long a5);

/* arch/x86/domain.c */
void noreturn idle_loop(void);
void noreturn startup_cpu_idle_loop(void);
void idle_vcpu_init(unsigned int cpu);

/* arch/x86/smp.c */
void smp_prepare_cpus(void);
void noreturn start_secondary(void);
unsigned int num_online_cpus(void);

/* arch/x86/setup.c */
void noreturn __start_xen(void);

#endif /* __ASSEMBLY__ */

#endif /* MINIVISOR_H */
