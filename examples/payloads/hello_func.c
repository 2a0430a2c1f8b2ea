/* Replacement for xen_extra_version (hello.livepatch). */
const char *xen_hello_world(void)
{
    return "Hello World";
}
