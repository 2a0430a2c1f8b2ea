/*
 * livepatch.h - payload-side definitions, matching Xen 4.17.7's
 * xen/include/public/sysctl.h (struct livepatch_func, payload version 2)
 * and xen/include/xen/livepatch_payload.h (hook sections), plus the
 * original 4.7 (version 1) layout for the v1 example.
 */
#ifndef PAYLOAD_LIVEPATCH_H
#define PAYLOAD_LIVEPATCH_H

typedef unsigned char  uint8_t;
typedef unsigned int   uint32_t;

#define LIVEPATCH_PAYLOAD_VERSION   2
#define LIVEPATCH_OPAQUE_SIZE       31

struct livepatch_expectation {
    uint8_t enabled : 1;
    uint8_t len : 5;            /* 1 .. 31 */
    uint8_t rsv : 2;            /* must be zero */
    uint8_t data[LIVEPATCH_OPAQUE_SIZE];
};

/* Version 2: 104 bytes. */
struct livepatch_func {
    const char *name;           /*  0: may be NULL when old_addr is given */
    void *new_addr;             /*  8: 0 => NOP mode */
    void *old_addr;             /* 16: 0 => resolve name at upload */
    uint32_t new_size;          /* 24 */
    uint32_t old_size;          /* 28 */
    uint8_t version;            /* 32: LIVEPATCH_PAYLOAD_VERSION */
    uint8_t _pad[39];           /* 33 */
    struct livepatch_expectation expect;    /* 72 */
};

/* Version 1 (Xen 4.7 .. 4.13): 64 bytes. */
struct livepatch_func_v1 {
    const char *name;           /*  0 */
    void *new_addr;             /*  8 */
    void *old_addr;             /* 16 */
    uint32_t new_size;          /* 24 */
    uint32_t old_size;          /* 28 */
    uint8_t version;            /* 32: 1 */
    uint8_t opaque[31];         /* 33: MUST be zero */
};

_Static_assert(sizeof(struct livepatch_func) == 104, "livepatch_func v2 is 104 bytes");
_Static_assert(__builtin_offsetof(struct livepatch_func, expect) == 72, "expect at 72");
_Static_assert(sizeof(struct livepatch_func_v1) == 64, "livepatch_func v1 is 64 bytes");

/*
 * In 4.17 the in-tree tests' funcs variables are not const, so the section
 * is writable ("aw").
 */
#define LIVEPATCH_FUNCS  __attribute__((__section__(".livepatch.funcs"), __used__))

/* Hooks, as xen/include/xen/livepatch_payload.h. */
typedef struct payload livepatch_payload_t;
typedef void livepatch_loadcall_t(void);
typedef void livepatch_unloadcall_t(void);
typedef int livepatch_precall_t(livepatch_payload_t *arg);
typedef void livepatch_postcall_t(livepatch_payload_t *arg);

#define LIVEPATCH_LOAD_HOOK(_fn) \
    livepatch_loadcall_t *__attribute__((__weak__, __used__)) \
        const livepatch_load_data_##_fn \
        __attribute__((__section__(".livepatch.hooks.load"))) = _fn

#define LIVEPATCH_UNLOAD_HOOK(_fn) \
    livepatch_unloadcall_t *__attribute__((__weak__, __used__)) \
        const livepatch_unload_data_##_fn \
        __attribute__((__section__(".livepatch.hooks.unload"))) = _fn

#define LIVEPATCH_PREAPPLY_HOOK(_fn) \
    livepatch_precall_t *__attribute__((__weak__, __used__)) \
        livepatch_preapply_data_##_fn \
        __attribute__((__section__(".livepatch.hooks.preapply"))) = _fn

#define LIVEPATCH_POSTAPPLY_HOOK(_fn) \
    livepatch_postcall_t *__attribute__((__weak__, __used__)) \
        livepatch_postapply_data_##_fn \
        __attribute__((__section__(".livepatch.hooks.postapply"))) = _fn

#define LIVEPATCH_PREREVERT_HOOK(_fn) \
    livepatch_precall_t *__attribute__((__weak__, __used__)) \
        livepatch_prerevert_data_##_fn \
        __attribute__((__section__(".livepatch.hooks.prerevert"))) = _fn

#define LIVEPATCH_POSTREVERT_HOOK(_fn) \
    livepatch_postcall_t *__attribute__((__weak__, __used__)) \
        livepatch_postrevert_data_##_fn \
        __attribute__((__section__(".livepatch.hooks.postrevert"))) = _fn

#endif /* PAYLOAD_LIVEPATCH_H */
