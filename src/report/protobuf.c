/* memprof: protocol buffers encoding for pprof (see protobuf.h). */
#include "protobuf.h"

#include <stdlib.h>
#include <string.h>

static int reserve(struct mp_pb *b, size_t more)
{
    if (b->failed)
        return -1;
    if (b->len + more <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + more)
        cap *= 2;
    unsigned char *g = realloc(b->data, cap);
    if (!g) {
        b->failed = 1;
        return -1;
    }
    b->data = g;
    b->cap = cap;
    return 0;
}

void mp_pb_varint(struct mp_pb *b, uint64_t v)
{
    if (reserve(b, 10))
        return;
    do {
        unsigned char byte = v & 0x7f;
        v >>= 7;
        b->data[b->len++] = byte | (v ? 0x80 : 0);
    } while (v);
}

void mp_pb_uint(struct mp_pb *b, uint32_t field, uint64_t v)
{
    if (v == 0)
        return;
    mp_pb_varint(b, (uint64_t)field << 3 | 0);
    mp_pb_varint(b, v);
}

void mp_pb_bytes(struct mp_pb *b, uint32_t field, const void *data, size_t len)
{
    mp_pb_varint(b, (uint64_t)field << 3 | 2);
    mp_pb_varint(b, len);
    if (len && reserve(b, len) == 0) {
        memcpy(b->data + b->len, data, len);
        b->len += len;
    }
}

void mp_pb_packed(struct mp_pb *b, uint32_t field, const uint64_t *v, size_t n)
{
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t x = v[i];
        do {
            len++;
            x >>= 7;
        } while (x);
    }
    mp_pb_varint(b, (uint64_t)field << 3 | 2);
    mp_pb_varint(b, len);
    for (size_t i = 0; i < n; i++)
        mp_pb_varint(b, v[i]);
}

void mp_pb_free(struct mp_pb *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}
