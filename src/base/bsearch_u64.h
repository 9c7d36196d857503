/* memprof: binary search over arrays sorted by a 64-bit key. */
#ifndef MEMPROF_BSEARCH_U64_H
#define MEMPROF_BSEARCH_U64_H

#include <stddef.h>
#include <stdint.h>

/* In an array of n elements of `stride` bytes from `base`, sorted by the
 * uint64_t at `key_offset` of each (ascending), how many lead it with a key
 * <= `key`: the index of the first element whose key is above it (n if
 * none).  Use offsetof for key_offset. */
size_t mp_count_keys_at_or_below(const void *base, size_t n, size_t stride, size_t key_offset, uint64_t key);

#endif
