/* memprof: binary search over arrays sorted by a 64-bit key (bsearch_u64.h). */
#include "bsearch_u64.h"

#include <string.h>

size_t mp_count_keys_at_or_below(const void *base, size_t n, size_t stride, size_t key_offset, uint64_t key)
{
    const unsigned char *a = base;
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        uint64_t k;
        memcpy(&k, a + mid * stride + key_offset, sizeof k);
        if (k <= key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}
