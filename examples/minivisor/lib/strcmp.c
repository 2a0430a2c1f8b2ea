/* lib/strcmp.c */
#include "minivisor.h"

int strcmp(const char *a, const char *b)
{
    const unsigned char *x = (const unsigned char *)a;
    const unsigned char *y = (const unsigned char *)b;

    while ( *x && *x == *y )
    {
        x++;
        y++;
    }

    return *x - *y;
}
