/*
 * common/version.c - version strings, like xen/common/version.c.
 *
 * Every function here is global (so it starts with endbr64 under
 * -fcf-protection=full) and has the Xen 4.17 shape
 *     endbr64; lea str(%rip),%rax; jmp __x86_return_thunk
 * These are the live-patch targets of examples/payloads/.
 *
 * No __DATE__/__TIME__: the build must be reproducible, so the "compile
 * date" is a fixed string.
 */
#include "minivisor.h"

#define XEN_COMPILE_DATE    "Thu Jan  1 00:00:00 UTC 1970"
#define XEN_COMPILE_TIME    "00:00:00"
#define XEN_COMPILE_BY      "lpkit"
#define XEN_COMPILE_DOMAIN  "example.invalid"
#define XEN_COMPILER        "gcc " __VERSION__
#define XEN_CHANGESET       "lpkit minivisor example"
#define XEN_EXTRAVERSION    "-minivisor"

/* Linker-script symbols around this image's own .note.gnu.build-id. */
extern const char __note_gnu_build_id_start[], __note_gnu_build_id_end[];

const char *xen_compile_date(void)
{
    return XEN_COMPILE_DATE;
}

const char *xen_compile_time(void)
{
    return XEN_COMPILE_TIME;
}

const char *xen_compile_by(void)
{
    return XEN_COMPILE_BY;
}

const char *xen_compile_domain(void)
{
    return XEN_COMPILE_DOMAIN;
}

const char *xen_compiler(void)
{
    return XEN_COMPILER;
}

unsigned int xen_major_version(void)
{
    return 4;
}

unsigned int xen_minor_version(void)
{
    return 17;
}

/* The classic live-patch target (hello/bye/replace/expect payloads). */
noinline used const char *xen_extra_version(void)
{
    return XEN_EXTRAVERSION;
}

const char *xen_changeset(void)
{
    return XEN_CHANGESET;
}

const char *xen_deny(void)
{
    return "<denied>";
}

/*
 * Like Xen's xen_build_id(): point at the descriptor of the image's own
 * NT_GNU_BUILD_ID note.
 */
int xen_build_id(const void **p, unsigned int *len)
{
    const unsigned int *n = (const unsigned int *)__note_gnu_build_id_start;
    unsigned int namesz, descsz;

    if ( __note_gnu_build_id_end - __note_gnu_build_id_start < 12 )
        return -ENOENT;

    namesz = n[0];
    descsz = n[1];
    if ( n[2] != 3 /* NT_GNU_BUILD_ID */ || namesz != 4 ||
         memcmp(&n[3], "GNU", 4) ||
         12 + 4 + descsz > (unsigned long)(__note_gnu_build_id_end -
                                           __note_gnu_build_id_start) )
        return -ENOENT;

    *p = (const char *)&n[4];
    *len = descsz;
    return 0;
}
