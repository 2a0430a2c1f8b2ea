/* Replacement for xen_extra_version, stacked on hello (bye.livepatch). */
const char *xen_bye_world(void)
{
    return "Bye World!";
}
