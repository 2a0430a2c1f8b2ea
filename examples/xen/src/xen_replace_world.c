/*
 * xen_replace_world.livepatch, after Xen's in-tree test: old_addr is 0, so
 * the hypervisor resolves "xen_extra_version" by name at upload; depends on
 * the hypervisor, for REPLACE.
 */
#include "livepatch.h"
#include "config.h"

extern const char *xen_replace_world(void);

static const char replace_world_patch_this_fnc[] = "xen_extra_version";

struct livepatch_func LIVEPATCH_FUNCS livepatch_xen_replace_world = {
    .version = LIVEPATCH_PAYLOAD_VERSION,
    .name = replace_world_patch_this_fnc,
    .new_addr = xen_replace_world,
    .old_addr = 0, /* Forces the hypervisor to look up .name */
    .new_size = NEW_CODE_SZ_REPLACE,
    .old_size = OLD_CODE_SZ,
};
