/* old_addr = 0 and a name the minivisor does not have (-ENOENT). */
#include "bad.h"

static const char bad_unresolvable_name_name[] = "xen_no_such_function";

struct livepatch_func LIVEPATCH_FUNCS livepatch_bad_unresolvable_name = {
    .version = LIVEPATCH_PAYLOAD_VERSION,
    .name = bad_unresolvable_name_name,
    .new_addr = BAD_FN,
    .old_addr = 0,
    .new_size = NEW_SZ(BAD_FN),
    .old_size = OLD_SZ_xen_extra_version,
};
