/* .livepatch.funcs is 104 + 8 = 112 bytes: not a multiple of 104. */
#include "bad.h"

static const char bad_funcs_size_name[] = "xen_extra_version";

struct livepatch_func LIVEPATCH_FUNCS livepatch_bad_funcs_size = {
    .version = LIVEPATCH_PAYLOAD_VERSION,
    .name = bad_funcs_size_name,
    .new_addr = BAD_FN,
    .old_addr = xen_extra_version,
    .new_size = NEW_SZ(BAD_FN),
    .old_size = OLD_SZ_xen_extra_version,
};

unsigned long LIVEPATCH_FUNCS livepatch_bad_funcs_size_tail = 0;
