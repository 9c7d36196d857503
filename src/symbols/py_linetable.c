/* memprof: CPython 3.11/3.12 line tables (see py_linetable.h).
 *
 * Each entry starts with a byte with bit 7 set: bits 3-6 are its kind,
 * bits 0-2 the number of code units it covers minus one.  Kinds: 0-9 short
 * forms (same line, columns), 10-12 one-line forms (line + 0, 1, 2), 13
 * no columns and 14 long form (a signed varint line delta follows), 15 no
 * line at all.  The bytes up to the next byte with bit 7 set belong to the
 * entry. */
#include "py_linetable.h"

enum { KIND_ONE_LINE0 = 10, KIND_ONE_LINE2 = 12, KIND_NO_COLUMNS = 13, KIND_LONG = 14, KIND_NONE = 15 };

/* 6-bit groups, least significant first; bit 6 says another byte follows. */
static int signed_varint(const uint8_t *p, const uint8_t *end)
{
    unsigned val = 0, shift = 0;
    unsigned b;
    do {
        if (p >= end || shift > 24)
            return 0;
        b = *p++;
        val |= (b & 63u) << shift;
        shift += 6;
    } while (b & 64u);
    return (val & 1) ? -(int)(val >> 1) : (int)(val >> 1);
}

static int line_delta(const uint8_t *entry, const uint8_t *end)
{
    int kind = (entry[0] >> 3) & 15;
    if (kind == KIND_NO_COLUMNS || kind == KIND_LONG)
        return signed_varint(entry + 1, end);
    if (kind >= KIND_ONE_LINE0 && kind <= KIND_ONE_LINE2)
        return kind - KIND_ONE_LINE0;
    return 0;
}

static const uint8_t *next_entry(const uint8_t *p, const uint8_t *end)
{
    do
        p++;
    while (p < end && !(*p & 128));
    return p;
}

int mp_py_line_at(const uint8_t *table, size_t len, int first_line, uint32_t instr)
{
    if (instr == MP_PY_NO_INSTR)
        return first_line;
    const uint8_t *p = table, *end = table + len;
    int line = first_line;
    uint64_t start = 0;
    while (p < end && (*p & 128)) {
        line += line_delta(p, end);
        uint64_t units = (uint64_t)(*p & 7) + 1;
        if (instr < start + units)
            return ((*p >> 3) & 15) == KIND_NONE ? -1 : line;
        start += units;
        p = next_entry(p, end);
    }
    return -1;
}

int mp_py_last_line(const uint8_t *table, size_t len, int first_line)
{
    const uint8_t *p = table, *end = table + len;
    int line = first_line, last = first_line;
    while (p < end && (*p & 128)) {
        line += line_delta(p, end);
        if (((*p >> 3) & 15) != KIND_NONE && line > last)
            last = line;
        p = next_entry(p, end);
    }
    return last;
}
