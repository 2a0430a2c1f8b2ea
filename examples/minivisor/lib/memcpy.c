/* lib/memcpy.c - byte-wise memcpy (no builtins; -fno-tree-loop-distribute-patterns). */
#include "minivisor.h"

void *memcpy(void *dst, const void *src, size_t n)
{
    unsigned char *d = dst;
    const unsigned char *s = src;

    while ( n-- )
        *d++ = *s++;

    return dst;
}
