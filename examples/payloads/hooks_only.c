/*
 * hooks_only.livepatch: no .livepatch.funcs at all (legal since Xen 4.14),
 * only a load and an unload hook, each bumping a counter in .data.  Having
 * no vetoing (pre/post) hooks, it may also be used with REPLACE.
 */
#include "livepatch.h"

struct hooks_only_lp_counters {
    unsigned int magic;         /* 0x00: "ONLY" (keeps this in .data) */
    unsigned int load;          /* 0x04 */
    unsigned int unload;        /* 0x08 */
};

struct hooks_only_lp_counters hooks_only_lp_counters = { .magic = 0x594c4e4f };

static void hooks_only_lp_load(void)
{
    hooks_only_lp_counters.load++;
}

static void hooks_only_lp_unload(void)
{
    hooks_only_lp_counters.unload++;
}

LIVEPATCH_LOAD_HOOK(hooks_only_lp_load);
LIVEPATCH_UNLOAD_HOOK(hooks_only_lp_unload);
