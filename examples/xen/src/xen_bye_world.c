/*
 * xen_bye_world.livepatch, after Xen's in-tree test: patches
 * xen_extra_version again; .livepatch.depends is xen_hello_world's build-id,
 * so it must be applied on top of it and reverted first.
 */
#include "livepatch.h"
#include "config.h"

extern const char *xen_extra_version(void);
extern const char *xen_bye_world(void);

static const char bye_world_patch_this_fnc[] = "xen_extra_version";

struct livepatch_func LIVEPATCH_FUNCS livepatch_xen_bye_world = {
    .version = LIVEPATCH_PAYLOAD_VERSION,
    .name = bye_world_patch_this_fnc,
    .new_addr = xen_bye_world,
    .old_addr = xen_extra_version,
    .new_size = NEW_CODE_SZ_BYE,
    .old_size = OLD_CODE_SZ,
};
