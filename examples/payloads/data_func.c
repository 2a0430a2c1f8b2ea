/*
 * Replacement for xen_changeset (data.livepatch) that keeps state in the
 * payload's own .data (data_lp_banner) and .bss (data_lp_calls): every call
 * returns "changeset patched, call #N" with N = calls modulo 10.
 */
static char data_lp_banner[32] = "changeset patched, call #0";
static unsigned int data_lp_calls;

const char *xen_data_changeset(void)
{
    data_lp_calls++;
    data_lp_banner[25] = '0' + data_lp_calls % 10;
    return data_lp_banner;
}
