/* The funcs table of bad_reloc_32s.livepatch (a good hello-like entry). */
#include "bad.h"

static const char bad_reloc_32s_name[] = "xen_extra_version";

struct livepatch_func LIVEPATCH_FUNCS livepatch_bad_reloc_32s = {
    .version = LIVEPATCH_PAYLOAD_VERSION,
    .name = bad_reloc_32s_name,
    .new_addr = BAD_FN,
    .old_addr = xen_extra_version,
    .new_size = NEW_SZ(BAD_FN),
    .old_size = OLD_SZ_xen_extra_version,
};
