/* livepatch_func.version = 3: only 2 is accepted (-EOPNOTSUPP). */
#include "bad.h"

static const char bad_version3_name[] = "xen_extra_version";

struct livepatch_func LIVEPATCH_FUNCS livepatch_bad_version3 = {
    .version = 3,
    .name = bad_version3_name,
    .new_addr = BAD_FN,
    .old_addr = xen_extra_version,
    .new_size = NEW_SZ(BAD_FN),
    .old_size = OLD_SZ_xen_extra_version,
};
