/*
 * bye.livepatch: xen_extra_version() -> "Bye World!", stacked on hello:
 * its .livepatch.depends is hello.livepatch's own build-id note, so it can
 * only be applied while hello is the top of the applied stack.
 */
#include "livepatch.h"
#include "config.h"

extern const char *xen_extra_version(void);
extern const char *xen_bye_world(void);

static const char bye_lp_patch_this_fnc[] = "xen_extra_version";

struct livepatch_func LIVEPATCH_FUNCS livepatch_xen_bye_world = {
    .version = LIVEPATCH_PAYLOAD_VERSION,
    .name = bye_lp_patch_this_fnc,
    .new_addr = xen_bye_world,
    .old_addr = xen_extra_version,
    .new_size = NEW_SZ_xen_bye_world,
    .old_size = OLD_SZ_xen_extra_version,
};
