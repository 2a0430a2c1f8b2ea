/*
 * nop.livepatch: NOP mode against bump_event_counter.
 * new_addr = 0 and name = NULL; old_addr is an R_X86_64_64 relocation
 * against bump_event_counter; new_size is the number of bytes to NOP
 * *measured from the function start* (endbr64 included), i.e. everything
 * before the final "jmp __x86_return_thunk".  Xen keeps the endbr64 and
 * NOPs [old+4, old+new_size): the "addl $1, event_counter(%rip)".
 */
#include "livepatch.h"
#include "config.h"

extern void bump_event_counter(void);

struct livepatch_func LIVEPATCH_FUNCS livepatch_nop_event_counter = {
    .version = LIVEPATCH_PAYLOAD_VERSION,
    .name = 0,
    .new_addr = 0,
    .old_addr = bump_event_counter,
    .new_size = NOP_LEN_bump_event_counter,
    .old_size = OLD_SZ_bump_event_counter,
};
