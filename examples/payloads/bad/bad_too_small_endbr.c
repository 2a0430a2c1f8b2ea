/*
 * Target small_endbr_ret0 is 7 bytes and starts with endbr64: Xen needs
 * 4 + 5 = 9 bytes.
 */
#include "bad.h"

extern int small_endbr_ret0(void);

static const char bad_too_small_endbr_name[] = "small_endbr_ret0";

struct livepatch_func LIVEPATCH_FUNCS livepatch_bad_too_small_endbr = {
    .version = LIVEPATCH_PAYLOAD_VERSION,
    .name = bad_too_small_endbr_name,
    .new_addr = BAD_FN,
    .old_addr = small_endbr_ret0,
    .new_size = NEW_SZ(BAD_FN),
    .old_size = OLD_SZ_small_endbr_ret0,
};
