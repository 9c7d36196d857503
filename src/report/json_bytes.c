/* memprof: byte strings in JSON strings and back (see json_bytes.h). */
#include "json_bytes.h"

#include <string.h>

size_t mp_utf8_char_len(const unsigned char *s)
{
    unsigned c = s[0];
    if (c < 0x80)
        return 1;
    size_t n;
    unsigned min, cp;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2, min = 0x80, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3, min = 0x800, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4, min = 0x10000, cp = c & 0x07;
    else
        return 0; /* a continuation byte, or never valid (C0, C1, F5-FF) */
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0; /* cut short (a NUL ends the string here too) */
        cp = cp << 6 | (s[i] & 0x3fu);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0; /* overlong, beyond Unicode, or a surrogate */
    if (cp >= 0xef80 && cp <= 0xefff)
        return 0; /* ours: written byte by byte so that reading it is unambiguous */
    return n;
}

void mp_json_string(FILE *out, const char *s)
{
    if (!s) {
        fputs("null", out);
        return;
    }
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        size_t n = mp_utf8_char_len(p);
        if (n == 0) {
            fprintf(out, "\\uef%02x", *p++); /* a byte that is not UTF-8 */
            continue;
        }
        if (n > 1) {
            fwrite(p, 1, n, out);
            p += n;
            continue;
        }
        switch (*p) {
        case '"': fputs("\\\"", out); break;
        case '\\': fputs("\\\\", out); break;
        case '\n': fputs("\\n", out); break;
        case '\r': fputs("\\r", out); break;
        case '\t': fputs("\\t", out); break;
        default:
            if (*p < 0x20)
                fprintf(out, "\\u%04x", *p);
            else
                fputc(*p, out);
        }
        p++;
    }
    fputc('"', out);
}

size_t mp_json_bytes_decode(char *s, size_t len)
{
    unsigned char *u = (unsigned char *)s;
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        if (i + 2 < len && u[i] == 0xee && (u[i + 1] == 0xbe || u[i + 1] == 0xbf) && (u[i + 2] & 0xc0) == 0x80) {
            /* U+EF80-U+EFFF: (0xe)(0xf)(0x2|0x3 . 6 bits) -> 0x80 | ... */
            u[o++] = (unsigned char)(((u[i + 1] & 0x03) << 6) | (u[i + 2] & 0x3f));
            i += 3;
        } else {
            u[o++] = u[i++];
        }
    }
    if (o < len)
        u[o] = '\0';
    return o;
}
