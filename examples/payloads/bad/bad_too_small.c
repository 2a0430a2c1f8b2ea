/* Target small_ret0 is 3 bytes, no endbr64: a 5-byte jump does not fit. */
#include "bad.h"

extern int small_ret0(void);

static const char bad_too_small_name[] = "small_ret0";

struct livepatch_func LIVEPATCH_FUNCS livepatch_bad_too_small = {
    .version = LIVEPATCH_PAYLOAD_VERSION,
    .name = bad_too_small_name,
    .new_addr = BAD_FN,
    .old_addr = small_ret0,
    .new_size = NEW_SZ(BAD_FN),
    .old_size = OLD_SZ_small_ret0,
};
