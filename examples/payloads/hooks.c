/*
 * hooks.livepatch: patches xen_compile_date and has every kind of
 * non-action hook:
 *   .livepatch.hooks.load    [hooks_lp_load_a, hooks_lp_load_b]
 *   .livepatch.hooks.unload  [hooks_lp_unload]
 *   .livepatch.hooks.preapply / postapply / prerevert / postrevert: one each
 * Every hook bumps its own counter in hooks_lp_counters (.data), so a test
 * can read back how often each ran.  The pre-hooks return 0 (no veto).
 * Because the hook sections and .data are writable, Xen considers this
 * payload not safe to re-apply after a revert.
 */
#include "livepatch.h"
#include "config.h"

extern const char *xen_compile_date(void);
extern const char *xen_hooks_compile_date(void);

struct hooks_lp_counters {
    unsigned int magic;         /* 0x00: "HOOK" (keeps this in .data) */
    unsigned int load_a;        /* 0x04 */
    unsigned int load_b;        /* 0x08 */
    unsigned int unload;        /* 0x0c */
    unsigned int preapply;      /* 0x10 */
    unsigned int postapply;     /* 0x14 */
    unsigned int prerevert;     /* 0x18 */
    unsigned int postrevert;    /* 0x1c */
};

struct hooks_lp_counters hooks_lp_counters = { .magic = 0x4b4f4f48 };

static void hooks_lp_load_a(void)
{
    hooks_lp_counters.load_a++;
}

static void hooks_lp_load_b(void)
{
    hooks_lp_counters.load_b++;
}

static void hooks_lp_unload(void)
{
    hooks_lp_counters.unload++;
}

static int hooks_lp_preapply(livepatch_payload_t *p)
{
    hooks_lp_counters.preapply++;
    return 0;
}

static void hooks_lp_postapply(livepatch_payload_t *p)
{
    hooks_lp_counters.postapply++;
}

static int hooks_lp_prerevert(livepatch_payload_t *p)
{
    hooks_lp_counters.prerevert++;
    return 0;
}

static void hooks_lp_postrevert(livepatch_payload_t *p)
{
    hooks_lp_counters.postrevert++;
}

LIVEPATCH_LOAD_HOOK(hooks_lp_load_a);
LIVEPATCH_LOAD_HOOK(hooks_lp_load_b);
LIVEPATCH_UNLOAD_HOOK(hooks_lp_unload);
LIVEPATCH_PREAPPLY_HOOK(hooks_lp_preapply);
LIVEPATCH_POSTAPPLY_HOOK(hooks_lp_postapply);
LIVEPATCH_PREREVERT_HOOK(hooks_lp_prerevert);
LIVEPATCH_POSTREVERT_HOOK(hooks_lp_postrevert);

static const char hooks_lp_patch_this_fnc[] = "xen_compile_date";

struct livepatch_func LIVEPATCH_FUNCS livepatch_hooks_compile_date = {
    .version = LIVEPATCH_PAYLOAD_VERSION,
    .name = hooks_lp_patch_this_fnc,
    .new_addr = xen_hooks_compile_date,
    .old_addr = xen_compile_date,
    .new_size = NEW_SZ_xen_hooks_compile_date,
    .old_size = OLD_SZ_xen_compile_date,
};
