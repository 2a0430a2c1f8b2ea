/*
 * public.h - the minivisor's "guest" ABI: a small subset of Xen's public
 * headers (xen.h, version.h, sched.h, domctl.h) with Xen's numbers.
 * Guest handles are plain pointers into the (single) emulated address space.
 */
#ifndef MINIVISOR_PUBLIC_H
#define MINIVISOR_PUBLIC_H

#define __HYPERVISOR_xen_version   17
#define __HYPERVISOR_console_io    18
#define __HYPERVISOR_sched_op      29
#define __HYPERVISOR_domctl        36
#define NR_hypercalls              64

/* do_xen_version(cmd, arg) */
#define XENVER_version      0   /* returns (major << 16) | minor */
#define XENVER_extraversion 1   /* arg: char[16] */
#define XENVER_compile_info 2   /* arg: struct xen_compile_info */
#define XENVER_capabilities 3   /* arg: char[1024] */
#define XENVER_changeset    4   /* arg: char[64] */
#define XENVER_pagesize     7   /* returns 4096 */
#define XENVER_build_id     10  /* arg: struct xen_build_id; returns bytes written */

typedef char xen_extraversion_t[16];
typedef char xen_capabilities_info_t[1024];
typedef char xen_changeset_info_t[64];

struct xen_compile_info {
    char compiler[64];
    char compile_by[16];
    char compile_domain[32];
    char compile_date[32];
};

struct xen_build_id {
    unsigned int  len;          /* IN: size of buf[], OUT: bytes written */
    unsigned char buf[];
};

/* do_console_io(cmd, count, buf) */
#define CONSOLEIO_write 0
#define CONSOLEIO_read  1

/* do_sched_op(cmd, arg) */
#define SCHEDOP_yield           0
#define SCHEDOP_block           1
#define SCHEDOP_shutdown        2   /* arg: struct sched_shutdown */
#define SCHEDOP_minivisor_work  64  /* arg: struct sched_work (minivisor only) */

struct sched_shutdown {
    unsigned int reason;
};

struct sched_work {
    unsigned long iterations;   /* IN  */
    unsigned long checksum;     /* OUT: long_running_work(iterations) */
};

/* do_domctl(struct xen_domctl *) */
#define XEN_DOMCTL_INTERFACE_VERSION 0x15
#define XEN_DOMCTL_pausedomain       3
#define XEN_DOMCTL_unpausedomain     4
#define XEN_DOMCTL_getdomaininfo     5
#define XEN_DOMCTL_max_mem           11

struct xen_domctl_getdomaininfo {
    unsigned short domain;      /* OUT: first domain with id >= requested */
    unsigned short _pad;
    unsigned int   flags;       /* DOMF_* */
    unsigned long  tot_pages;
    unsigned long  max_pages;
    unsigned int   max_vcpus;
    unsigned int   pause_count;
    char           name[16];
};

struct xen_domctl_max_mem {
    unsigned long max_memkb;
};

struct xen_domctl {
    unsigned int   cmd;                 /* 0x00 */
    unsigned int   interface_version;   /* 0x04 */
    unsigned short domain;              /* 0x08 */
    unsigned short _pad[3];
    union {                             /* 0x10 */
        struct xen_domctl_getdomaininfo getdomaininfo;
        struct xen_domctl_max_mem       max_mem;
        unsigned char                   pad[128];
    } u;
};

#endif /* MINIVISOR_PUBLIC_H */
