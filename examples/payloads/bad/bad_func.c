/* Replacement function of a bad_*.livepatch: see bad.h. */
const char *BAD_FN(void)
{
    return BAD_STR;
}
