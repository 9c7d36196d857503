/* memprof: counts as every text shows them ("1,234,567", "1 call", "2 calls"). */
#ifndef MEMPROF_COUNT_H
#define MEMPROF_COUNT_H

#include <stddef.h>
#include <stdint.h>

/* "1,234,567": every count in a text report or note is written this way. */
void mp_format_count(char *buf, size_t len, uint64_t n);
/* mp_format_count, returning buf: for printf arguments. */
const char *mp_count_str(char *buf, size_t len, uint64_t n);
#define MP_COUNT_STR(buf, n) mp_count_str((buf), sizeof(buf), (uint64_t)(n))

/* A count and its noun, the noun singular for exactly 1: "1 call", "0 calls",
 * "1,234 calls" (every count a text prints with a noun goes through here). */
const char *mp_count_noun(char *buf, size_t len, uint64_t n, const char *one, const char *many);
#define MP_COUNT_NOUN(buf, n, one, many) mp_count_noun((buf), sizeof(buf), (uint64_t)(n), (one), (many))
/* one for exactly 1, else many: a verb or a noun that agrees with a count
 * printed apart ("1 call was", "2 calls were"). */
static inline const char *mp_plural(uint64_t n, const char *one, const char *many)
{
    return n == 1 ? one : many;
}

#endif
