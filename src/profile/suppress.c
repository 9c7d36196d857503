/* memprof: leak suppressions, LeakSanitizer's format (see suppress.h). */
#define _GNU_SOURCE
#include "suppress.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rule {
    char *pattern;
    char *glob;        /* the pattern as a whole-text glob */
    char *label;       /* how the report names it: "leak:PATTERN (where it came from)" */
    int runtime_only;
};

struct mp_suppressions {
    struct rule *v;
    size_t n, cap;
};

static const struct mp_default_suppression defaults[] = {
    { "_IO_file_doallocate", 0, "stdio stream buffers (stdout, stderr, files)" },
    { "_dl_allocate_tls", 0, "a thread's TLS vector (glibc's loader, at pthread_create)" },
    { "__tls_get_addr", 0, "dynamic TLS blocks (modules loaded with dlopen)" },
    { "_dl_init", 1, "allocations of the runtime libraries' own constructors before main, such as libstdc++'s "
                     "emergency exception pool (only stacks with no frame of the program)" },
    { "eh_alloc.cc", 1, "libstdc++'s emergency exception pool, also in a static program (only stacks with no "
                        "frame of the program)" },
    { "_dl_non_dynamic_init", 0, "a static program's loader set-up: the vDSO's link map, library search paths" },
    { NULL, 0, NULL },
};

const struct mp_default_suppression *mp_default_suppressions(void)
{
    return defaults;
}

struct mp_suppressions *mp_suppressions_new(void)
{
    return calloc(1, sizeof(struct mp_suppressions));
}

void mp_suppressions_free(struct mp_suppressions *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++) {
        free(s->v[i].pattern);
        free(s->v[i].glob);
        free(s->v[i].label);
    }
    free(s->v);
    free(s);
}

/* '*' matches any run of characters; everything else itself; all of text. */
static int glob(const char *p, const char *pe, const char *t)
{
    const char *star = NULL, *resume = NULL;
    while (*t) {
        if (p < pe && *p == '*') {
            star = ++p;
            resume = t;
        } else if (p < pe && *p == *t) {
            p++;
            t++;
        } else if (star) {
            p = star;
            t = ++resume;
        } else {
            return 0;
        }
    }
    while (p < pe && *p == '*')
        p++;
    return p == pe;
}

/* LeakSanitizer's pattern as a whole-text glob: '*' added at an end that
 * is not anchored. */
static char *as_glob(const char *pattern)
{
    size_t len = strlen(pattern);
    int at_start = pattern[0] == '^', at_end = len > (size_t)at_start && pattern[len - 1] == '$';
    const char *core = pattern + at_start;
    size_t core_len = len - (size_t)at_start - (size_t)at_end;
    char *g = malloc(core_len + 3);
    if (!g)
        return NULL;
    size_t o = 0;
    if (!at_start)
        g[o++] = '*';
    memcpy(g + o, core, core_len);
    o += core_len;
    if (!at_end)
        g[o++] = '*';
    g[o] = '\0';
    return g;
}

static int glob_match(const char *g, const char *text)
{
    return text && *text && glob(g, g + strlen(g), text);
}

int mp_suppression_match(const char *pattern, const char *text)
{
    char *g = as_glob(pattern);
    int ok = g && glob_match(g, text);
    free(g);
    return ok;
}

static int add(struct mp_suppressions *s, const char *pattern, size_t len, const char *origin, int runtime_only)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        struct rule *g = realloc(s->v, cap * sizeof *g);
        if (!g)
            return -1;
        s->v = g;
        s->cap = cap;
    }
    struct rule *r = &s->v[s->n];
    r->pattern = strndup(pattern, len);
    r->glob = r->pattern ? as_glob(r->pattern) : NULL;
    r->runtime_only = runtime_only;
    r->label = NULL;
    if (!r->pattern || !r->glob || asprintf(&r->label, "leak:%s (%s)", r->pattern, origin) < 0) {
        free(r->pattern);
        free(r->glob);
        return -1;
    }
    s->n++;
    return 0;
}

int mp_suppressions_add_defaults(struct mp_suppressions *s)
{
    for (const struct mp_default_suppression *d = defaults; d->pattern; d++)
        if (add(s, d->pattern, strlen(d->pattern), "built-in", d->runtime_only) != 0)
            return -1;
    return 0;
}

int mp_suppressions_add_text(struct mp_suppressions *s, const char *text, const char *origin, char *err,
                             size_t errlen)
{
    int line_no = 0;
    for (const char *line = text; *line;) {
        const char *eol = strchr(line, '\n');
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        line_no++;
        const char *a = line, *b = line + len;
        while (a < b && (*a == ' ' || *a == '\t'))
            a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t' || b[-1] == '\r'))
            b--;
        if (a < b && *a != '#') {
            const char *colon = memchr(a, ':', (size_t)(b - a));
            if (!colon || colon == a) {
                snprintf(err, errlen, "%s:%d: expected leak:PATTERN (LeakSanitizer's suppression format), found '%.*s'",
                         origin, line_no, (int)(b - a > 60 ? 60 : b - a), a);
                return -1;
            }
            if ((size_t)(colon - a) != 4 || memcmp(a, "leak", 4) != 0) {
                snprintf(err, errlen, "%s:%d: unknown suppression type '%.*s': memprof reads leak:PATTERN lines",
                         origin, line_no, (int)(colon - a > 40 ? 40 : colon - a), a);
                return -1;
            }
            const char *p = colon + 1;
            if (p == b) {
                snprintf(err, errlen, "%s:%d: leak: needs a pattern (a function, source file or library name)",
                         origin, line_no);
                return -1;
            }
            char where[320];
            snprintf(where, sizeof where, "%s:%d", origin, line_no);
            if (add(s, p, (size_t)(b - p), where, 0) != 0) {
                snprintf(err, errlen, "out of memory");
                return -1;
            }
        }
        line = eol ? eol + 1 : line + len;
    }
    return 0;
}

static const char *matching_rule(const struct mp_suppressions *s, const struct mp_profile *p,
                                 const struct mp_stack_info *st)
{
    for (size_t r = 0; r < s->n; r++) {
        const struct rule *rule = &s->v[r];
        if (rule->runtime_only && !st->no_user_frame)
            continue;
        for (uint32_t f = 0; f < st->n_frames; f++) {
            const struct mp_line_stats *l = mp_profile_line(p, st->frame_lines[f]);
            if (glob_match(rule->glob, l->function) || glob_match(rule->glob, l->file) ||
                glob_match(rule->glob, l->module))
                return rule->label;
        }
    }
    return NULL;
}

size_t mp_suppressions_apply(const struct mp_suppressions *s, struct mp_profile *p)
{
    size_t n = 0;
    for (size_t i = 0; s && i < mp_profile_stack_count(p); i++) {
        const struct mp_stack_info *st = mp_profile_stack(p, i);
        if (!st->live_blocks)
            continue;
        const char *label = matching_rule(s, p, st);
        if (label) {
            mp_profile_suppress_stack(p, i, label);
            n++;
        }
    }
    return n;
}
