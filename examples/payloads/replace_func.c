/* Replacement for xen_extra_version (replace.livepatch). */
const char *xen_replace_world(void)
{
    return "Hello Again World!";
}
