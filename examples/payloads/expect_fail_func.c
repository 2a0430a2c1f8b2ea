/* Replacement for xen_extra_version (expect_fail.livepatch). */
const char *xen_expect_fail_world(void)
{
    return "Unexpected World";
}
