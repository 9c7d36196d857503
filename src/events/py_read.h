/* memprof: reading a CPython str object's text with a layout
 * (py_channel.h), without calling Python: the agent reads its own memory,
 * memprof -p another process's (a `read` function copies the bytes).
 * Compact strings only (every file and function name is one); a legacy
 * string gives -1.  Non-ASCII text is encoded as UTF-8, except the lone
 * surrogates U+DC80..U+DCFF with which Python keeps the undecodable bytes
 * of a file name (surrogateescape): those become the bytes again. */
#ifndef MEMPROF_PY_READ_H
#define MEMPROF_PY_READ_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "events/py_channel.h"

/* Copies len bytes at addr of the process into dst: 0, or -1. */
typedef int (*mp_py_read_fn)(void *ctx, uint64_t addr, void *dst, size_t len);

static inline size_t mp_py_put_utf8(char *buf, size_t cap, size_t at, uint32_t c)
{
    char tmp[4];
    size_t n;
    if (c >= 0xDC80 && c <= 0xDCFF) {
        tmp[0] = (char)(c - 0xDC00);
        n = 1;
    } else if (c < 0x80) {
        tmp[0] = (char)c;
        n = 1;
    } else if (c < 0x800) {
        tmp[0] = (char)(0xC0 | (c >> 6));
        tmp[1] = (char)(0x80 | (c & 0x3F));
        n = 2;
    } else if (c < 0x10000) {
        tmp[0] = (char)(0xE0 | (c >> 12));
        tmp[1] = (char)(0x80 | ((c >> 6) & 0x3F));
        tmp[2] = (char)(0x80 | (c & 0x3F));
        n = 3;
    } else {
        tmp[0] = (char)(0xF0 | (c >> 18));
        tmp[1] = (char)(0x80 | ((c >> 12) & 0x3F));
        tmp[2] = (char)(0x80 | ((c >> 6) & 0x3F));
        tmp[3] = (char)(0x80 | (c & 0x3F));
        n = 4;
    }
    if (at + n > cap)
        return at;
    memcpy(buf + at, tmp, n);
    return at + n;
}

/* The text of the str at `str` into buf (at most cap bytes, no NUL): its
 * length, or -1 when it cannot be read. */
static inline long mp_py_read_str(const struct mp_py_layout *L, uint64_t str, char *buf, size_t cap,
                                  mp_py_read_fn read, void *ctx)
{
    uint32_t state;
    int64_t length;
    if (!str || read(ctx, str + (uint64_t)L->str_state, &state, sizeof state) != 0 ||
        read(ctx, str + (uint64_t)L->str_length, &length, sizeof length) != 0 || length < 0)
        return -1;
    unsigned kind = (state >> L->state_kind_bit) & 7, compact = (state >> L->state_compact_bit) & 1,
             ascii = (state >> L->state_ascii_bit) & 1;
    if (!compact)
        return -1;
    if (ascii) {
        size_t n = (size_t)length < cap ? (size_t)length : cap;
        return read(ctx, str + (uint64_t)L->str_ascii_size, buf, n) == 0 ? (long)n : -1;
    }
    uint64_t utf8 = 0;
    int64_t utf8_len = 0;
    if (read(ctx, str + (uint64_t)L->str_utf8, &utf8, sizeof utf8) != 0)
        return -1;
    if (utf8 && read(ctx, str + (uint64_t)L->str_utf8_length, &utf8_len, sizeof utf8_len) == 0 && utf8_len >= 0) {
        size_t n = (size_t)utf8_len < cap ? (size_t)utf8_len : cap;
        return read(ctx, utf8, buf, n) == 0 ? (long)n : -1;
    }
    if (kind != 1 && kind != 2 && kind != 4)
        return -1;
    uint64_t data = str + (uint64_t)L->str_compact_size;
    size_t at = 0;
    uint8_t chunk[256];
    for (int64_t i = 0; i < length && at < cap;) {
        int64_t count = (int64_t)(sizeof chunk / kind) < length - i ? (int64_t)(sizeof chunk / kind) : length - i;
        if (read(ctx, data + (uint64_t)i * kind, chunk, (size_t)count * kind) != 0)
            return -1;
        for (int64_t j = 0; j < count && at < cap; j++) {
            uint32_t c = kind == 1 ? chunk[j] : kind == 2 ? (uint32_t)(chunk[2 * j] | chunk[2 * j + 1] << 8)
                                                          : (uint32_t)chunk[4 * j] | (uint32_t)chunk[4 * j + 1] << 8 |
                                                                (uint32_t)chunk[4 * j + 2] << 16 |
                                                                (uint32_t)chunk[4 * j + 3] << 24;
            at = mp_py_put_utf8(buf, cap, at, c);
        }
        i += count;
    }
    return (long)at;
}

#endif
