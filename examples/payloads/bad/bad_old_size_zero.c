/* old_size = 0: "Address or size fields are zero" (-EINVAL). */
#include "bad.h"

static const char bad_old_size_zero_name[] = "xen_extra_version";

struct livepatch_func LIVEPATCH_FUNCS livepatch_bad_old_size_zero = {
    .version = LIVEPATCH_PAYLOAD_VERSION,
    .name = bad_old_size_zero_name,
    .new_addr = BAD_FN,
    .old_addr = xen_extra_version,
    .new_size = NEW_SZ(BAD_FN),
    .old_size = 0,
};
