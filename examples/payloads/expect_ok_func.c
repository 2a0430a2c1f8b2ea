/* Replacement for xen_extra_version (expect_ok.livepatch). */
const char *xen_expect_ok_world(void)
{
    return "Expected World";
}
