/* The funcs table of bad_modinfo_unterminated.livepatch (good); its .modinfo lacks the final NUL. */
#include "bad.h"

static const char bad_modinfo_unterminated_name[] = "xen_extra_version";

struct livepatch_func LIVEPATCH_FUNCS livepatch_bad_modinfo_unterminated = {
    .version = LIVEPATCH_PAYLOAD_VERSION,
    .name = bad_modinfo_unterminated_name,
    .new_addr = BAD_FN,
    .old_addr = xen_extra_version,
    .new_size = NEW_SZ(BAD_FN),
    .old_size = OLD_SZ_xen_extra_version,
};
