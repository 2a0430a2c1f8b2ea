/*
 * data.livepatch: xen_changeset() -> xen_data_changeset(), whose state
 * lives in .data and .bss.  Xen marks such a payload not safe to re-apply:
 * after REVERT, APPLY sets rc = -EINVAL (unload and upload it again).
 */
#include "livepatch.h"
#include "config.h"

extern const char *xen_changeset(void);
extern const char *xen_data_changeset(void);

static const char data_lp_patch_this_fnc[] = "xen_changeset";

struct livepatch_func LIVEPATCH_FUNCS livepatch_data_changeset = {
    .version = LIVEPATCH_PAYLOAD_VERSION,
    .name = data_lp_patch_this_fnc,
    .new_addr = xen_data_changeset,
    .old_addr = xen_changeset,
    .new_size = NEW_SZ_xen_data_changeset,
    .old_size = OLD_SZ_xen_changeset,
};
