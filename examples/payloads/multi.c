/*
 * multi.livepatch: two functions in one payload.
 *   [0] xen_major_version -> xen_multi_major_version (5);  old_addr relocated
 *   [1] xen_minor_version -> xen_multi_minor_version (42); old_addr absolute
 *       (the address read from the minivisor by build.sh, like Xen's
 *       MINOR_VERSION_ADDR)
 */
#include "livepatch.h"
#include "config.h"

extern unsigned int xen_major_version(void);
extern unsigned int xen_multi_major_version(void);
extern unsigned int xen_multi_minor_version(void);

static const char multi_lp_major_name[] = "xen_major_version";
static const char multi_lp_minor_name[] = "xen_minor_version";

struct livepatch_func LIVEPATCH_FUNCS livepatch_multi[] = {
    {
        .version = LIVEPATCH_PAYLOAD_VERSION,
        .name = multi_lp_major_name,
        .new_addr = xen_multi_major_version,
        .old_addr = xen_major_version,
        .new_size = NEW_SZ_xen_multi_major_version,
        .old_size = OLD_SZ_xen_major_version,
    },
    {
        .version = LIVEPATCH_PAYLOAD_VERSION,
        .name = multi_lp_minor_name,
        .new_addr = xen_multi_minor_version,
        .old_addr = (void *)OLD_ADDR_xen_minor_version,
        .new_size = NEW_SZ_xen_multi_minor_version,
        .old_size = OLD_SZ_xen_minor_version,
    },
};
