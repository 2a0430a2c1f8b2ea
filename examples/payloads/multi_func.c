/* Replacements for xen_major_version / xen_minor_version (multi.livepatch). */
unsigned int xen_multi_major_version(void)
{
    return 5;
}

unsigned int xen_multi_minor_version(void)
{
    return 42;
}
