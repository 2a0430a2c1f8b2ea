/* Replacement for xen_extra_version (v1.livepatch). */
const char *xen_v1_world(void)
{
    return "Hello v1 World";
}
