/*
 * .livepatch.hooks.preapply holds two pointers (16 bytes); it must hold
 * exactly one (-EINVAL).  No funcs: the hook sections alone make it a
 * patching payload.
 */
#include "livepatch.h"

static int bad_hook_size_pre_a(livepatch_payload_t *p)
{
    return 0;
}

static int bad_hook_size_pre_b(livepatch_payload_t *p)
{
    return 0;
}

LIVEPATCH_PREAPPLY_HOOK(bad_hook_size_pre_a);
LIVEPATCH_PREAPPLY_HOOK(bad_hook_size_pre_b);
