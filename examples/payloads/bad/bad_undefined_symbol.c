#include "bad.h"

static const char bad_undefined_symbol_name[] = "xen_extra_version";

struct livepatch_func LIVEPATCH_FUNCS livepatch_bad_undefined_symbol = {
    .version = LIVEPATCH_PAYLOAD_VERSION,
    .name = bad_undefined_symbol_name,
    .new_addr = BAD_FN,
    .old_addr = xen_extra_version,
    .new_size = NEW_SZ(BAD_FN),
    .old_size = OLD_SZ_xen_extra_version,
};
