/* Replacement for xen_extra_version on top of xen_hello_world. */
const char *xen_bye_world(void)
{
    return "Bye World!";
}
