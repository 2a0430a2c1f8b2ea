/*
 * A good hello-like payload plus a section that is writable and
 * executable ("awx"), which Xen refuses to place (-EOPNOTSUPP).
 */
#include "bad.h"

static const char bad_wx_section_name[] = "xen_extra_version";

struct livepatch_func LIVEPATCH_FUNCS livepatch_bad_wx_section = {
    .version = LIVEPATCH_PAYLOAD_VERSION,
    .name = bad_wx_section_name,
    .new_addr = BAD_FN,
    .old_addr = xen_extra_version,
    .new_size = NEW_SZ(BAD_FN),
    .old_size = OLD_SZ_xen_extra_version,
};

asm ( ".pushsection .bad_wx_code, \"awx\", @progbits\n"
      "bad_wx_section_code:\n"
      "    xor %eax, %eax\n"
      "    ret\n"
      ".popsection\n" );
