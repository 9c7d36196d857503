/* memprof: counts with thousands separators (count.h). */
#include "count.h"

#include <inttypes.h>
#include <stdio.h>

void mp_format_count(char *buf, size_t len, uint64_t n)
{
    if (!len)
        return;
    char digits[32];
    int nd = snprintf(digits, sizeof digits, "%" PRIu64, n);
    size_t o = 0;
    for (int i = 0; i < nd && o + 1 < len; i++) {
        if (i > 0 && (nd - i) % 3 == 0 && o + 2 < len)
            buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o < len ? o : len - 1] = '\0';
}

const char *mp_count_str(char *buf, size_t len, uint64_t n)
{
    mp_format_count(buf, len, n);
    return buf;
}

const char *mp_count_noun(char *buf, size_t len, uint64_t n, const char *one, const char *many)
{
    char count[32];
    mp_format_count(count, sizeof count, n);
    snprintf(buf, len, "%s %s", count, mp_plural(n, one, many));
    return buf;
}
