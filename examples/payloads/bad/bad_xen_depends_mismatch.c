/*
 * A good hello-like payload whose .livepatch.xen_depends is a well-formed
 * build-id note for a different hypervisor (X2).
 */
#include "bad.h"

static const char bad_xen_depends_mismatch_name[] = "xen_extra_version";

struct livepatch_func LIVEPATCH_FUNCS livepatch_bad_xen_depends_mismatch = {
    .version = LIVEPATCH_PAYLOAD_VERSION,
    .name = bad_xen_depends_mismatch_name,
    .new_addr = BAD_FN,
    .old_addr = xen_extra_version,
    .new_size = NEW_SZ(BAD_FN),
    .old_size = OLD_SZ_xen_extra_version,
};
