/*
 * v1.livepatch: the original (Xen 4.7 .. 4.13) format.
 * struct livepatch_func is 64 bytes, version = 1, opaque[31] all zero;
 * old_addr is an absolute address taken from the minivisor at build time
 * (as in the v1 design document's example); .livepatch.depends and
 * .note.gnu.build-id are present, .livepatch.xen_depends is not (it did
 * not exist before 4.14), and there is no .modinfo.
 */
#include "livepatch.h"
#include "config.h"

extern const char *xen_v1_world(void);

static const char v1_lp_patch_this_fnc[] = "xen_extra_version";

struct livepatch_func_v1 LIVEPATCH_FUNCS livepatch_v1_hello_world = {
    .version = 1,
    .name = v1_lp_patch_this_fnc,
    .new_addr = xen_v1_world,
    .old_addr = (void *)OLD_ADDR_xen_extra_version,
    .new_size = NEW_SZ_xen_v1_world,
    .old_size = OLD_SZ_xen_extra_version,
};
