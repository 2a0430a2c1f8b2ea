/*
 * Replacement function that calls a function the minivisor does not have:
 * an undefined symbol Xen cannot resolve at upload (-ENOENT).
 */
extern int minivisor_no_such_function(void);

const char *xen_bad_undefined_symbol_world(void)
{
    return minivisor_no_such_function() ? "bad" : "undefined";
}
