/* Replacement for xen_extra_version, meant for REPLACE. */
const char *xen_replace_world(void)
{
    return "Hello Again World!";
}
