/*
 * common/console.c - a console that is only a ring buffer.
 *
 * The emulator reads console_ring[0 .. console_prod) to see what the
 * minivisor printed.  When the ring is full, output wraps (console_prod
 * keeps counting; index = console_prod % sizeof(console_ring)).
 */
#include "minivisor.h"
#include "public.h"

char console_ring[4096];
unsigned int console_prod;

void console_write(const char *s, unsigned int len)
{
    unsigned int i;

    for ( i = 0; i < len; i++ )
        console_ring[(console_prod + i) % sizeof(console_ring)] = s[i];
    console_prod += len;
}

void printk(const char *s)
{
    console_write(s, strlen(s));
}

void printk_u(unsigned long v)
{
    char buf[24];
    unsigned int i = sizeof(buf);

    do {
        buf[--i] = '0' + v % 10;
        v /= 10;
    } while ( v && i );

    console_write(&buf[i], sizeof(buf) - i);
}

long do_console_io(int cmd, unsigned int count, char *buf)
{
    unsigned int n;

    switch ( cmd )
    {
    case CONSOLEIO_write:
        if ( count > 1024 )
            return -EINVAL;
        console_write(buf, count);
        return 0;

    case CONSOLEIO_read:
        n = console_prod < sizeof(console_ring) ? console_prod : sizeof(console_ring);
        if ( n > count )
            n = count;
        memcpy(buf, console_ring, n);
        return n;

    default:
        return -ENOSYS;
    }
}
