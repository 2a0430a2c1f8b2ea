/* lib/strlen.c */
#include "minivisor.h"

size_t strlen(const char *s)
{
    const char *p = s;

    while ( *p )
        p++;

    return p - s;
}
