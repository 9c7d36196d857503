/* memprof: counts as every text shows them ("1,234,567"). */
#ifndef MEMPROF_COUNT_H
#define MEMPROF_COUNT_H

#include <stddef.h>
#include <stdint.h>

/* "1,234,567": every count in a text report or note is written this way. */
void mp_format_count(char *buf, size_t len, uint64_t n);
/* mp_format_count, returning buf: for printf arguments. */
const char *mp_count_str(char *buf, size_t len, uint64_t n);
#define MP_COUNT_STR(buf, n) mp_count_str((buf), sizeof(buf), (uint64_t)(n))

#endif
