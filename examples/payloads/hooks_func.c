/* Replacement for xen_compile_date (hooks.livepatch). */
const char *xen_hooks_compile_date(void)
{
    return "Hooked Thu Jan  1 1970";
}
