/* memprof: string interning: equal strings share one stable pointer. */
#ifndef MEMPROF_STRTAB_H
#define MEMPROF_STRTAB_H

#include "hashidx.h"

struct mp_strtab {
    struct mp_hashidx index;
    char **strings;
    uint32_t count, cap;
};

void mp_strtab_init(struct mp_strtab *t);
void mp_strtab_free(struct mp_strtab *t);
/* The interned copy of s (NULL stays NULL); NULL on ENOMEM. */
const char *mp_strtab_intern(struct mp_strtab *t, const char *s);

#endif
