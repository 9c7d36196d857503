/* memprof: leak suppressions in LeakSanitizer's format (heaptrack reads the
 * same files): one "leak:PATTERN" per line, '#' comments, blank lines.  A
 * pattern matches when it is found in the function name, the source file
 * or the module (shared library path) of any frame of a block's
 * allocation stack; '*' matches any run of characters, '^' and '$' anchor
 * at the start and the end.  A stack matched by a suppression leaves the
 * leaks section and the --limit-leaks gate; the leak-kind totals still
 * count its blocks.
 *
 * The built-in list covers the C and C++ runtimes' own one-time
 * allocations (mp_default_suppressions). */
#ifndef MEMPROF_SUPPRESS_H
#define MEMPROF_SUPPRESS_H

#include <stddef.h>
#include "memprof/profile.h"

struct mp_suppressions;

struct mp_default_suppression {
    const char *pattern;
    int runtime_only;        /* only stacks with no frame of the program's own code */
    const char *what;        /* for the man page and the report */
};
/* The built-in list, NULL-pattern-terminated. */
const struct mp_default_suppression *mp_default_suppressions(void);

struct mp_suppressions *mp_suppressions_new(void);
void mp_suppressions_free(struct mp_suppressions *s);
/* The built-in list.  0, or -1 on ENOMEM. */
int mp_suppressions_add_defaults(struct mp_suppressions *s);
/* The lines of a suppressions file (text, NUL-terminated), named `origin`
 * in messages.  0, or -1 with "ORIGIN:LINE: problem" in err. */
int mp_suppressions_add_text(struct mp_suppressions *s, const char *text, const char *origin, char *err,
                             size_t errlen);
/* Marks every stack holding live blocks that a suppression matches
 * (mp_profile_suppress_stack, with the rule as written); returns how many. */
size_t mp_suppressions_apply(const struct mp_suppressions *s, struct mp_profile *p);

/* LeakSanitizer's pattern match (exposed for the tests). */
int mp_suppression_match(const char *pattern, const char *text);

#endif
