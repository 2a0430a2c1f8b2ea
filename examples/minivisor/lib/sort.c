/*
 * lib/sort.c - heapsort with caller-supplied cmp/swap, like Xen's lib/sort.c
 * (itself from Linux).  swap may be NULL, in which case bytes are swapped.
 * cmp and swap are called indirectly (through __x86_indirect_thunk_*).
 */
#include "minivisor.h"

static void generic_swap(void *a, void *b, size_t size)
{
    unsigned char *x = a, *y = b, t;

    while ( size-- )
    {
        t = *x;
        *x++ = *y;
        *y++ = t;
    }
}

void sort(void *base, size_t num, size_t size,
          int (*cmp)(const void *, const void *),
          void (*swap)(void *, void *, size_t))
{
    char *b = base;
    size_t i = (num / 2) * size, n = num * size, c, r;

    if ( !swap )
        swap = generic_swap;

    if ( num < 2 )
        return;

    /* heapify */
    for ( ; i > 0; )
    {
        i -= size;
        for ( r = i; r * 2 + size < n; r = c )
        {
            c = r * 2 + size;
            if ( c < n - size && cmp(b + c, b + c + size) < 0 )
                c += size;
            if ( cmp(b + r, b + c) >= 0 )
                break;
            swap(b + r, b + c, size);
        }
    }

    /* sort */
    for ( i = n - size; i > 0; i -= size )
    {
        swap(b, b + i, size);
        for ( r = 0; r * 2 + size < i; r = c )
        {
            c = r * 2 + size;
            if ( c < i - size && cmp(b + c, b + c + size) < 0 )
                c += size;
            if ( cmp(b + r, b + c) >= 0 )
                break;
            swap(b + r, b + c, size);
        }
    }
}
