/*
 * common/domctl.c - a fixed-size domain table and XEN_DOMCTL_* lookups.
 */
#include "minivisor.h"
#include "public.h"

struct domain domain_list[MAX_DOMAINS];
unsigned int nr_domains;

struct domain *domain_create(unsigned int domid, const char *name,
                             unsigned long pages, unsigned int vcpus)
{
    struct domain *d;

    if ( nr_domains >= MAX_DOMAINS || get_domain_by_id(domid) )
        return NULL;

    d = &domain_list[nr_domains++];
    memset(d, 0, sizeof(*d));
    d->domain_id = domid;
    d->tot_pages = pages;
    d->max_pages = pages;
    d->max_vcpus = vcpus;
    strlcpy(d->name, name, sizeof(d->name));
    return d;
}

struct domain *get_domain_by_id(unsigned int domid)
{
    unsigned int i;

    for ( i = 0; i < nr_domains; i++ )
        if ( domain_list[i].domain_id == domid )
            return &domain_list[i];

    return NULL;
}

static int cmp_domid(const void *a, const void *b)
{
    const struct domain *x = a, *y = b;

    return (int)x->domain_id - (int)y->domain_id;
}

/* Keep domain_list sorted by domid (sort() calls cmp_domid indirectly). */
void domain_sort(void)
{
    sort(domain_list, nr_domains, sizeof(domain_list[0]), cmp_domid, NULL);
}

long do_domctl(void *u_domctl)
{
    struct xen_domctl *op = u_domctl;
    struct domain *d;
    unsigned int i;

    if ( op->interface_version != XEN_DOMCTL_INTERFACE_VERSION )
        return -EACCES;

    switch ( op->cmd )
    {
    case XEN_DOMCTL_getdomaininfo:
        /* Like Xen: the first domain whose id is >= the requested one. */
        for ( i = 0, d = NULL; i < nr_domains; i++ )
            if ( domain_list[i].domain_id >= op->domain )
            {
                d = &domain_list[i];
                break;
            }
        if ( !d )
            return -ESRCH;
        memset(&op->u.getdomaininfo, 0, sizeof(op->u.getdomaininfo));
        op->domain = d->domain_id;
        op->u.getdomaininfo.domain = d->domain_id;
        op->u.getdomaininfo.flags = d->flags;
        op->u.getdomaininfo.tot_pages = d->tot_pages;
        op->u.getdomaininfo.max_pages = d->max_pages;
        op->u.getdomaininfo.max_vcpus = d->max_vcpus;
        op->u.getdomaininfo.pause_count = d->pause_count;
        memcpy(op->u.getdomaininfo.name, d->name, sizeof(d->name));
        return 0;

    case XEN_DOMCTL_pausedomain:
        if ( !(d = get_domain_by_id(op->domain)) )
            return -ESRCH;
        d->pause_count++;
        d->flags |= DOMF_paused;
        return 0;

    case XEN_DOMCTL_unpausedomain:
        if ( !(d = get_domain_by_id(op->domain)) )
            return -ESRCH;
        if ( !d->pause_count )
            return -EINVAL;
        if ( --d->pause_count == 0 )
            d->flags &= ~DOMF_paused;
        return 0;

    case XEN_DOMCTL_max_mem:
        if ( !(d = get_domain_by_id(op->domain)) )
            return -ESRCH;
        if ( op->u.max_mem.max_memkb / 4 < d->tot_pages )
            return -EINVAL;
        d->max_pages = op->u.max_mem.max_memkb / 4;
        return 0;
    }

    return -ENOSYS;
}
