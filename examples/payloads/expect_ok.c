/*
 * expect_ok.livepatch: like hello, with an expectation: len 8, data = the
 * real first 8 bytes of xen_extra_version (endbr64 included), taken from
 * the built minivisor by build.sh.  Applies.
 */
#include "livepatch.h"
#include "config.h"

extern const char *xen_extra_version(void);
extern const char *xen_expect_ok_world(void);

static const char expect_ok_lp_patch_this_fnc[] = "xen_extra_version";

struct livepatch_func LIVEPATCH_FUNCS livepatch_expect_ok = {
    .version = LIVEPATCH_PAYLOAD_VERSION,
    .name = expect_ok_lp_patch_this_fnc,
    .new_addr = xen_expect_ok_world,
    .old_addr = xen_extra_version,
    .new_size = NEW_SZ_xen_expect_ok_world,
    .old_size = OLD_SZ_xen_extra_version,
    .expect = {
        .enabled = 1,
        .len = 8,
        .data = { EXPECT8_xen_extra_version },
    },
};
