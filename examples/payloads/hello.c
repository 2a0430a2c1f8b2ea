/*
 * hello.livepatch: xen_extra_version() -> "Hello World".
 * old_addr is an R_X86_64_64 relocation against the (undefined here)
 * minivisor symbol xen_extra_version, resolved by the hypervisor at upload.
 * .livepatch.depends / .livepatch.xen_depends: the minivisor's build-id.
 * .modinfo: "LIVEPATCH_RULEZ\0".
 */
#include "livepatch.h"
#include "config.h"

extern const char *xen_extra_version(void);
extern const char *xen_hello_world(void);

static const char hello_lp_patch_this_fnc[] = "xen_extra_version";

struct livepatch_func LIVEPATCH_FUNCS livepatch_xen_hello_world = {
    .version = LIVEPATCH_PAYLOAD_VERSION,
    .name = hello_lp_patch_this_fnc,
    .new_addr = xen_hello_world,
    .old_addr = xen_extra_version,
    .new_size = NEW_SZ_xen_hello_world,
    .old_size = OLD_SZ_xen_extra_version,
};
