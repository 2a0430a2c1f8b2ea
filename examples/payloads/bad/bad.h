/*
 * bad.h - shared by the bad_*.livepatch sources.  Each of them is compiled
 * with -DBAD_FN=xen_<payload>_world, the replacement function that
 * bad_func.c (compiled with the same -D) defines, and each fails exactly
 * one check of Xen 4.17's upload (see examples/manifest.json).
 */
#ifndef BAD_H
#define BAD_H

#include "livepatch.h"
#include "config.h"

#define NEW_SZ(f)   NEW_SZ_(f)
#define NEW_SZ_(f)  NEW_SZ_##f

extern const char *xen_extra_version(void);
extern const char *BAD_FN(void);

#endif
