/* Source of the reader's binutils-built fixtures (see build.sh). */
int counter = 1;
static int helper(int x) { return x + counter; }
int exported(int y) { return helper(y) * 2; }
const char *greeting(void) { return "hello"; }
static int bss_only[16];
int *bss_ptr(void) { return bss_only; }
