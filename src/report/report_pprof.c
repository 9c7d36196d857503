/* memprof: pprof's profile.proto, gzipped (--format=pprof), for
 * `go tool pprof` and everything that reads Go's heap profiles.
 *
 * One sample per stack, its locations innermost first (all frames: pprof
 * does its own trimming); one location per source-level frame (an inlined
 * call is a frame of its own, so a location holds one line); one function
 * per (name, file of its lines; no start line: a saved report knows it
 * only for functions with a table, and it must give the same bytes).
 * Sample types, in this order:
 *   alloc_objects, alloc_space   allocation calls, bytes allocated
 *   inuse_objects, inuse_space   still allocated at exit (or detach): leaks
 *   peak_objects,  peak_space    held when the heap reached its peak
 * Their totals are the JSON summary's alloc_calls, allocated_bytes,
 * leaked_blocks, leaked_bytes and peak_heap_bytes.  go tool pprof shows
 * alloc_space unless told otherwise (-sample_index=peak_space ...).
 * Bytes are the requested sizes; memprof does not sample, so the period
 * is 1 byte.  A saved profile keeps no addresses: locations have none, and
 * the one mapping (the program) says functions, files and lines are known. */
#include "memprof/report.h"
#include "format.h"
#include "protobuf.h"
#include "base/hashidx.h"
#include "base/strtab.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* profile.proto field numbers */
enum {
    PROFILE_SAMPLE_TYPE = 1, PROFILE_SAMPLE = 2, PROFILE_MAPPING = 3, PROFILE_LOCATION = 4, PROFILE_FUNCTION = 5,
    PROFILE_STRING_TABLE = 6, PROFILE_DURATION_NANOS = 10, PROFILE_PERIOD_TYPE = 11, PROFILE_PERIOD = 12,
    PROFILE_COMMENT = 13, PROFILE_DEFAULT_SAMPLE_TYPE = 14,
    VALUE_TYPE_TYPE = 1, VALUE_TYPE_UNIT = 2,
    SAMPLE_LOCATION_ID = 1, SAMPLE_VALUE = 2,
    MAPPING_ID = 1, MAPPING_FILENAME = 5, MAPPING_HAS_FUNCTIONS = 7, MAPPING_HAS_FILENAMES = 8,
    MAPPING_HAS_LINE_NUMBERS = 9, MAPPING_HAS_INLINE_FRAMES = 10,
    LOCATION_ID = 1, LOCATION_MAPPING_ID = 2, LOCATION_LINE = 4,
    LINE_FUNCTION_ID = 1, LINE_LINE = 2,
    FUNCTION_ID = 1, FUNCTION_NAME = 2, FUNCTION_SYSTEM_NAME = 3, FUNCTION_FILENAME = 4,
};

#define N_TYPES 6

/* The string table: interned strings and their indices (0 is ""). */
struct strings {
    struct mp_strtab tab;
    struct mp_hashidx index;
    const char **list;
    uint32_t n, cap;
    int failed;
};

struct string_key {
    const struct strings *s;
    const char *interned;
};

static int same_string(const void *ctx, uint32_t id)
{
    const struct string_key *k = ctx;
    return k->s->list[id] == k->interned;
}

static uint64_t string_id(struct strings *s, const char *str)
{
    if (!str || !*str)
        return 0;
    const char *in = mp_strtab_intern(&s->tab, str);
    if (!in) {
        s->failed = 1;
        return 0;
    }
    struct string_key key = { s, in };
    uint64_t h = mp_hash_u64((uint64_t)(uintptr_t)in);
    uint32_t id = mp_hashidx_find(&s->index, h, same_string, &key);
    if (id != UINT32_MAX)
        return id;
    if (s->n == s->cap) {
        uint32_t cap = s->cap ? s->cap * 2 : 256;
        const char **g = realloc(s->list, cap * sizeof *g);
        if (!g) {
            s->failed = 1;
            return 0;
        }
        s->list = g;
        s->cap = cap;
    }
    id = s->n++;
    s->list[id] = in;
    if (mp_hashidx_insert(&s->index, h, id) != 0)
        s->failed = 1;
    return id;
}

/* Functions: (name, file) -> id, in order of first use. */
struct funcs {
    struct mp_hashidx index;
    uint64_t *name, *file;  /* string ids, per function (id - 1) */
    uint32_t n, cap;
};

struct func_key {
    const struct funcs *f;
    uint64_t name, file;
};

static int same_func(const void *ctx, uint32_t id)
{
    const struct func_key *k = ctx;
    return k->f->name[id] == k->name && k->f->file[id] == k->file;
}

/* The function id (from 1) of a line record, or 0 on ENOMEM. */
static uint64_t function_id(struct funcs *f, struct strings *s, const struct mp_line_stats *l,
                            const struct mp_report_options *opt)
{
    struct func_key k = { f, string_id(s, mp_display_function(l->function, opt->stable)),
                          string_id(s, mp_display_path(l->file ? l->file : l->module, opt->cwd)) };
    uint64_t h = mp_hash_u64(k.name * 0x9E3779B97F4A7C15ull ^ k.file);
    uint32_t id = mp_hashidx_find(&f->index, h, same_func, &k);
    if (id != UINT32_MAX)
        return id + 1;
    if (f->n == f->cap) {
        uint32_t cap = f->cap ? f->cap * 2 : 64;
        uint64_t *a = realloc(f->name, cap * sizeof *a);
        if (a)
            f->name = a;
        uint64_t *b = a ? realloc(f->file, cap * sizeof *b) : NULL;
        if (!b)
            return 0;
        f->file = b;
        f->cap = cap;
    }
    id = f->n++;
    f->name[id] = k.name;
    f->file[id] = k.file;
    if (mp_hashidx_insert(&f->index, h, id) != 0)
        return 0;
    return id + 1;
}

static void value_type(struct mp_pb *b, struct mp_pb *tmp, uint32_t field, uint64_t type, uint64_t unit)
{
    mp_pb_clear(tmp);
    mp_pb_uint(tmp, VALUE_TYPE_TYPE, type);
    mp_pb_uint(tmp, VALUE_TYPE_UNIT, unit);
    mp_pb_message(b, field, tmp);
}

/* The profile's encoding into b; 0, or -1 on ENOMEM. */
static int encode(struct mp_pb *b, const struct mp_profile *p, const struct mp_report_run *run,
                  const struct mp_report_options *opt)
{
    struct strings s;
    struct funcs f;
    struct mp_pb tmp = { 0 }, sub = { 0 };
    memset(&s, 0, sizeof s);
    memset(&f, 0, sizeof f);
    mp_strtab_init(&s.tab);
    mp_hashidx_init(&s.index);
    mp_hashidx_init(&f.index);
    s.list = malloc(256 * sizeof *s.list);
    s.cap = s.list ? 256 : 0;
    if (s.list)
        s.list[s.n++] = "";
    size_t n_lines = mp_profile_line_count(p);
    uint64_t *loc_func = calloc(n_lines ? n_lines : 1, sizeof *loc_func); /* per line record: its function id */
    uint64_t *ids = malloc(sizeof *ids * 1024);
    size_t ids_cap = 1024;
    int rc = -1;
    if (!s.list || !loc_func || !ids)
        goto out;

    static const char *const types[N_TYPES][2] = { { "alloc_objects", "count" }, { "alloc_space", "bytes" },
                                                   { "inuse_objects", "count" }, { "inuse_space", "bytes" },
                                                   { "peak_objects", "count" },  { "peak_space", "bytes" } };
    for (int i = 0; i < N_TYPES; i++)
        value_type(b, &tmp, PROFILE_SAMPLE_TYPE, string_id(&s, types[i][0]), string_id(&s, types[i][1]));

    /* samples, and which line records they use */
    for (size_t i = 0; i < mp_profile_stack_count(p); i++) {
        const struct mp_stack_info *st = mp_profile_stack(p, i);
        uint64_t v[N_TYPES] = { st->alloc_calls, st->allocated_bytes, st->live_blocks, st->live_bytes,
                                st->peak_blocks, st->peak_bytes };
        if (!v[0] && !v[1] && !v[2] && !v[3] && !v[4] && !v[5])
            continue;
        if (st->n_frames > ids_cap) {
            uint64_t *g = realloc(ids, st->n_frames * sizeof *g);
            if (!g)
                goto out;
            ids = g;
            ids_cap = st->n_frames;
        }
        for (uint32_t k = 0; k < st->n_frames; k++) {
            uint32_t line = st->frame_lines[k];
            ids[k] = (uint64_t)line + 1;
            if (!loc_func[line] &&
                !(loc_func[line] = function_id(&f, &s, mp_profile_line(p, line), opt)))
                goto out;
        }
        mp_pb_clear(&tmp);
        mp_pb_packed(&tmp, SAMPLE_LOCATION_ID, ids, st->n_frames);
        mp_pb_packed(&tmp, SAMPLE_VALUE, v, N_TYPES);
        mp_pb_message(b, PROFILE_SAMPLE, &tmp);
    }

    mp_pb_clear(&tmp);
    mp_pb_uint(&tmp, MAPPING_ID, 1);
    mp_pb_uint(&tmp, MAPPING_FILENAME,
               string_id(&s, run->command && run->command[0] ? run->command[0] : "[unknown]"));
    mp_pb_uint(&tmp, MAPPING_HAS_FUNCTIONS, 1);
    mp_pb_uint(&tmp, MAPPING_HAS_FILENAMES, 1);
    mp_pb_uint(&tmp, MAPPING_HAS_LINE_NUMBERS, 1);
    mp_pb_uint(&tmp, MAPPING_HAS_INLINE_FRAMES, 1);
    mp_pb_message(b, PROFILE_MAPPING, &tmp);

    for (size_t line = 0; line < n_lines; line++) {
        if (!loc_func[line])
            continue;
        mp_pb_clear(&sub);
        mp_pb_uint(&sub, LINE_FUNCTION_ID, loc_func[line]);
        int ln = mp_profile_line(p, line)->line;
        mp_pb_uint(&sub, LINE_LINE, ln > 0 ? (uint64_t)ln : 0);
        mp_pb_clear(&tmp);
        mp_pb_uint(&tmp, LOCATION_ID, (uint64_t)line + 1);
        mp_pb_uint(&tmp, LOCATION_MAPPING_ID, 1);
        mp_pb_message(&tmp, LOCATION_LINE, &sub);
        mp_pb_message(b, PROFILE_LOCATION, &tmp);
    }
    for (uint32_t i = 0; i < f.n; i++) {
        mp_pb_clear(&tmp);
        mp_pb_uint(&tmp, FUNCTION_ID, (uint64_t)i + 1);
        mp_pb_uint(&tmp, FUNCTION_NAME, f.name[i]);
        mp_pb_uint(&tmp, FUNCTION_SYSTEM_NAME, f.name[i]);
        mp_pb_uint(&tmp, FUNCTION_FILENAME, f.file[i]);
        mp_pb_message(b, PROFILE_FUNCTION, &tmp);
    }
    if (!opt->stable && run->wall_seconds > 0) {
        /* in whole microseconds, read back from the JSON report's text, so
         * that a saved report gives the same bytes */
        char wall[64];
        snprintf(wall, sizeof wall, "%.6f", run->wall_seconds);
        mp_pb_uint(b, PROFILE_DURATION_NANOS, (uint64_t)(strtod(wall, NULL) * 1e6 + 0.5) * 1000);
    }
    value_type(b, &tmp, PROFILE_PERIOD_TYPE, string_id(&s, "space"), string_id(&s, "bytes"));
    mp_pb_uint(b, PROFILE_PERIOD, 1);
    mp_pb_uint(b, PROFILE_COMMENT,
               string_id(&s, "memprof: requested bytes, every allocation (no sampling); inuse = still "
                             "allocated at exit or detach; peak = held when the heap reached its peak"));
    mp_pb_uint(b, PROFILE_DEFAULT_SAMPLE_TYPE, string_id(&s, "alloc_space"));
    /* the string table last: every string is known by now */
    for (uint32_t i = 0; i < s.n; i++)
        mp_pb_bytes(b, PROFILE_STRING_TABLE, s.list[i], strlen(s.list[i]));
    rc = s.failed || b->failed || tmp.failed || sub.failed ? -1 : 0;
out:
    mp_pb_free(&tmp);
    mp_pb_free(&sub);
    free(ids);
    free(loc_func);
    free(s.list);
    mp_strtab_free(&s.tab);
    mp_hashidx_free(&s.index);
    mp_hashidx_free(&f.index);
    free(f.name);
    free(f.file);
    return rc;
}

/* data, gzipped (zlib's gzip wrapper: no name, time 0, so the bytes are the
 * same every time), to out. */
static int gzip_to(FILE *out, const unsigned char *data, size_t len)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return -1;
    unsigned char buf[65536];
    z.next_in = (unsigned char *)data;
    int rc = 0, zr;
    size_t left = len;
    do {
        uInt chunk = left > (1u << 30) ? (1u << 30) : (uInt)left;
        z.next_in = (unsigned char *)data + (len - left);
        z.avail_in = chunk;
        left -= chunk;
        do {
            z.next_out = buf;
            z.avail_out = sizeof buf;
            zr = deflate(&z, left ? Z_NO_FLUSH : Z_FINISH);
            if (zr == Z_STREAM_ERROR) {
                rc = -1;
                break;
            }
            size_t have = sizeof buf - z.avail_out;
            if (have && fwrite(buf, 1, have, out) != have)
                rc = -1;
        } while (z.avail_out == 0 && rc == 0);
    } while (left && rc == 0);
    if (rc == 0 && zr != Z_STREAM_END)
        rc = -1;
    deflateEnd(&z);
    return rc;
}

int mp_write_pprof(FILE *out, const struct mp_profile *p, const struct mp_report_run *run,
                   const struct mp_report_options *opt)
{
    struct mp_pb b = { 0 };
    int rc = encode(&b, p, run, opt);
    if (rc == 0)
        rc = gzip_to(out, b.data, b.len);
    mp_pb_free(&b);
    fflush(out);
    return rc || ferror(out) ? -1 : 0;
}
