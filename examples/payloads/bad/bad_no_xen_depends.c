/* A good hello-like payload, linked without .livepatch.xen_depends (C1). */
#include "bad.h"

static const char bad_no_xen_depends_name[] = "xen_extra_version";

struct livepatch_func LIVEPATCH_FUNCS livepatch_bad_no_xen_depends = {
    .version = LIVEPATCH_PAYLOAD_VERSION,
    .name = bad_no_xen_depends_name,
    .new_addr = BAD_FN,
    .old_addr = xen_extra_version,
    .new_size = NEW_SZ(BAD_FN),
    .old_size = OLD_SZ_xen_extra_version,
};
