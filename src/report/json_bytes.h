/* memprof: any byte string in a JSON string and back, losslessly.
 *
 * JSON strings are Unicode; the names memprof reports (arguments, file
 * names, function names, source lines, DWARF strings) are bytes, and need
 * not be UTF-8.  Valid UTF-8 is written as it is (control characters, '"'
 * and '\\' escaped as JSON wants).  A byte 0xXY that is not part of a valid
 * UTF-8 sequence becomes the private-use character U+EFXY (U+EF80-U+EFFF),
 * written as the escape "\uefXY"; a character that really is in that range
 * has its three UTF-8 bytes written that way too, so on reading every
 * U+EF80-U+EFFF is one byte again (the "OPTU-8" convention of MirBSD).  The
 * file is valid JSON and valid UTF-8 for any reader; memprof report gives
 * back the very bytes. */
#ifndef MEMPROF_JSON_BYTES_H
#define MEMPROF_JSON_BYTES_H

#include <stddef.h>
#include <stdio.h>

/* s as a JSON string (quoted, escaped), or null for NULL. */
void mp_json_string(FILE *out, const char *s);

/* Length of the valid UTF-8 sequence at s (1-4) that encodes a character
 * other than U+EF80-U+EFFF, or 0 when s[0] must be written as a byte. */
size_t mp_utf8_char_len(const unsigned char *s);

/* The bytes back from a decoded JSON string (in place; the result is never
 * longer): each U+EF80-U+EFFF (UTF-8 EE BE 80 - EE BF BF) becomes the byte
 * 0x80-0xFF.  Returns the new length. */
size_t mp_json_bytes_decode(char *s, size_t len);

#endif
