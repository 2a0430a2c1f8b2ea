/*
 * xen_hello_world.livepatch for Debian's Xen 4.17.7 xen-syms, after Xen's
 * in-tree xen/test/livepatch/xen_hello_world.c: xen_extra_version() ->
 * xen_hello_world() ("Hello World"). old_addr is an R_X86_64_64 relocation
 * against xen_extra_version, resolved by the hypervisor at upload. Load
 * hooks apply_hook and hi_func, unload hooks revert_hook, hi_func and
 * check_fnc (BUG_ON unless hi_func ran once or twice); the counter lives in
 * .bss, so the payload cannot be re-applied after a revert.
 * (Xen's hooks printk; these count instead: Xen's console needs a booted Xen.)
 */
#include "xen_payload.h"
#include "config.h"

extern const char *xen_extra_version(void);
extern const char *xen_hello_world(void);

static const char hello_world_patch_this_fnc[] = "xen_extra_version";
static unsigned int hello_world_cnt;
unsigned int xen_hello_world_hook_runs[2];  /* [0] apply_hook, [1] revert_hook */

static void hello_world_apply_hook(void)
{
    xen_hello_world_hook_runs[0]++;
}

static void hello_world_revert_hook(void)
{
    xen_hello_world_hook_runs[1]++;
}

static void hello_world_hi_func(void)
{
    ++hello_world_cnt;
}

static void hello_world_check_fnc(void)
{
    BUG_ON(hello_world_cnt == 0 || hello_world_cnt > 2);
}

LIVEPATCH_LOAD_HOOK(hello_world_apply_hook);
LIVEPATCH_LOAD_HOOK(hello_world_hi_func);
LIVEPATCH_UNLOAD_HOOK(hello_world_revert_hook);
LIVEPATCH_UNLOAD_HOOK(hello_world_hi_func);
LIVEPATCH_UNLOAD_HOOK(hello_world_check_fnc);

struct livepatch_func LIVEPATCH_FUNCS livepatch_xen_hello_world = {
    .version = LIVEPATCH_PAYLOAD_VERSION,
    .name = hello_world_patch_this_fnc,
    .new_addr = xen_hello_world,
    .old_addr = xen_extra_version,
    .new_size = NEW_CODE_SZ,
    .old_size = OLD_CODE_SZ,
};
