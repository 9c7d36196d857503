/* memprof: just enough protocol buffers encoding for pprof's profile.proto:
 * varints, length-delimited fields and packed repeated varints, into a
 * growable buffer.  A submessage is built in its own buffer and appended. */
#ifndef MEMPROF_PROTOBUF_H
#define MEMPROF_PROTOBUF_H

#include <stddef.h>
#include <stdint.h>

struct mp_pb {
    unsigned char *data;
    size_t len, cap;
    int failed;          /* out of memory at some point: the content is incomplete */
};

void mp_pb_varint(struct mp_pb *b, uint64_t v);
/* A varint field; 0 is the default and left out, as proto3 does. */
void mp_pb_uint(struct mp_pb *b, uint32_t field, uint64_t v);
/* A length-delimited field: bytes, a string, or a submessage's encoding. */
void mp_pb_bytes(struct mp_pb *b, uint32_t field, const void *data, size_t len);
static inline void mp_pb_message(struct mp_pb *b, uint32_t field, const struct mp_pb *sub)
{
    mp_pb_bytes(b, field, sub->data, sub->len);
}
/* A packed repeated varint field. */
void mp_pb_packed(struct mp_pb *b, uint32_t field, const uint64_t *v, size_t n);
/* Empty the buffer (keeping its memory) / free it. */
static inline void mp_pb_clear(struct mp_pb *b) { b->len = 0; }
void mp_pb_free(struct mp_pb *b);

#endif
