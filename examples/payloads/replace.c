/*
 * replace.livepatch: xen_extra_version() -> "Hello Again World!", meant for
 * the REPLACE action.  old_addr is 0, so the hypervisor resolves .name
 * ("xen_extra_version") by name at upload.
 */
#include "livepatch.h"
#include "config.h"

extern const char *xen_replace_world(void);

static const char replace_lp_patch_this_fnc[] = "xen_extra_version";

struct livepatch_func LIVEPATCH_FUNCS livepatch_xen_replace_world = {
    .version = LIVEPATCH_PAYLOAD_VERSION,
    .name = replace_lp_patch_this_fnc,
    .new_addr = xen_replace_world,
    .old_addr = 0,
    .new_size = NEW_SZ_xen_replace_world,
    .old_size = OLD_SZ_xen_extra_version,
};
