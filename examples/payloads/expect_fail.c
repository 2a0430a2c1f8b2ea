/*
 * expect_fail.livepatch: expectation enabled, len 6, data DE AD C0 DE BA BE
 * which is not what xen_extra_version starts with => APPLY fails -EINVAL.
 */
#include "livepatch.h"
#include "config.h"

extern const char *xen_extra_version(void);
extern const char *xen_expect_fail_world(void);

static const char expect_fail_lp_patch_this_fnc[] = "xen_extra_version";

struct livepatch_func LIVEPATCH_FUNCS livepatch_expect_fail = {
    .version = LIVEPATCH_PAYLOAD_VERSION,
    .name = expect_fail_lp_patch_this_fnc,
    .new_addr = xen_expect_fail_world,
    .old_addr = xen_extra_version,
    .new_size = NEW_SZ_xen_expect_fail_world,
    .old_size = OLD_SZ_xen_extra_version,
    .expect = {
        .enabled = 1,
        .len = 6,
        .data = { 0xde, 0xad, 0xc0, 0xde, 0xba, 0xbe },
    },
};
