/*
 * common/kernel.c - do_xen_version() and a few deliberately tiny functions.
 */
#include "minivisor.h"
#include "public.h"

/*
 * NOP-patch target.  Compiled to (see examples/README.md for the exact bytes):
 *     endbr64                           f3 0f 1e fa
 *     addl $1, event_counter(%rip)      83 05 <rel32> 01
 *     jmp  __x86_return_thunk           e9 <rel32>
 * NOPping bytes [4, 11) (new_size = 11, measured from the function start)
 * leaves a function that no longer counts.
 */
unsigned int event_counter;

noinline used void bump_event_counter(void)
{
    event_counter++;
}

/*
 * Too small to patch, no endbr64: "xor %eax,%eax; ret" = 3 bytes.
 * nocf_check drops the endbr64, function_return("keep") keeps a plain ret
 * instead of the 5-byte "jmp __x86_return_thunk".
 */
__attribute__((__nocf_check__, __function_return__("keep")))
noinline used int small_ret0(void)
{
    return 0;
}

/*
 * Too small to patch once endbr64 is taken into account:
 * "endbr64; xor %eax,%eax; ret" = 7 bytes (Xen needs 4 + 5 = 9).
 */
__attribute__((__function_return__("keep")))
noinline used int small_endbr_ret0(void)
{
    return 0;
}

/*
 * The XENVER_* hypercall.  "Guest handles" are plain pointers here, so
 * copy_to_guest() is a memcpy().
 */
long do_xen_version(int cmd, void *arg)
{
    switch ( cmd )
    {
    case XENVER_version:
        return (xen_major_version() << 16) | xen_minor_version();

    case XENVER_extraversion:
    {
        xen_extraversion_t extraversion;

        memset(extraversion, 0, sizeof(extraversion));
        strlcpy(extraversion, xen_extra_version(), sizeof(extraversion));
        memcpy(arg, extraversion, sizeof(extraversion));
        return 0;
    }

    case XENVER_compile_info:
    {
        struct xen_compile_info info;

        memset(&info, 0, sizeof(info));
        strlcpy(info.compiler, xen_compiler(), sizeof(info.compiler));
        strlcpy(info.compile_by, xen_compile_by(), sizeof(info.compile_by));
        strlcpy(info.compile_domain, xen_compile_domain(), sizeof(info.compile_domain));
        strlcpy(info.compile_date, xen_compile_date(), sizeof(info.compile_date));
        memcpy(arg, &info, sizeof(info));
        return 0;
    }

    case XENVER_capabilities:
    {
        static const char caps[] = "xen-4.17-x86_64 minivisor";

        memset(arg, 0, sizeof(xen_capabilities_info_t));
        memcpy(arg, caps, sizeof(caps));
        return 0;
    }

    case XENVER_changeset:
    {
        xen_changeset_info_t chgset;

        memset(chgset, 0, sizeof(chgset));
        strlcpy(chgset, xen_changeset(), sizeof(chgset));
        memcpy(arg, chgset, sizeof(chgset));
        return 0;
    }

    case XENVER_pagesize:
        return PAGE_SIZE;

    case XENVER_build_id:
    {
        struct xen_build_id *bid = arg;
        const void *p;
        unsigned int len;
        int rc = xen_build_id(&p, &len);

        if ( rc )
            return rc;
        if ( bid->len < len )
            return -ENOBUFS;
        memcpy(bid->buf, p, len);
        bid->len = len;
        return len;
    }
    }

    return -ENOSYS;
}
