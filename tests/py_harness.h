/* memprof tests: what the Python tests (tests/capture/test_python*.c) share:
 * Debian's stock interpreter, the fixtures' annotations
 * (tests/fixtures/python/py_*.py), running memprof on a fixture and reading
 * its JSON report.
 *
 * Annotations, derived from the fixture's source ("# @KEYWORD fields"):
 *   @expect calls=C bytes=B      everything charged to the line
 *   @peak bytes=B                what it holds at the peak heap
 *   @temporary calls=T           blocks freed before their thread allocated again
 *   @leak bytes=B blocks=K       what it holds when the process ends
 *   @freed calls=C bytes=B       what the line released (its free site)
 *   @lines occurrences=O heap=H  line mode (--function ... --metric=heap; heap optional) */
#ifndef MEMPROF_TEST_PY_HARNESS_H
#define MEMPROF_TEST_PY_HARNESS_H

#include <jansson.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#define PYTHON "/usr/bin/python3"

struct run_output;
struct problems;

struct py_expect {
    int line;
    int has_expect, has_peak, has_temporary, has_leak, has_lines, has_heap, has_freed;
    uint64_t calls, bytes, peak, temporary, leak_bytes, leak_blocks, occurrences, freed_calls, freed_bytes;
    int64_t heap;
};

struct py_fixture {
    char path[PATH_MAX];
    struct py_expect lines[64];
    int n;
};

/* Reads the annotations of tests/fixtures/python/NAME (name relative to the repo). */
void load_fixture(const char *name, struct py_fixture *f);

/* memprof [args] --json FILE -o FILE.txt PYTHON fixture (env: extra
 * environment, may be NULL); fails the test unless it exits 0.  The report. */
json_t *py_profile(const char *const *args, const char *fixture, char *const env[], struct run_output *o);

/* The line of `path` holding `text` (the first one). */
int fixture_line_of(const char *path, const char *text);
/* Is `file` the fixture (its whole path, or its last components)? */
int is_fixture_file(const char *file, const char *fixture);
/* The "lines" entry of the fixture's line `line`, or NULL. */
json_t *line_entry(json_t *root, const char *fixture, int line);
/* The row of the fixture's line in its function's per-function table. */
json_t *table_row(json_t *root, const char *fixture, int line);
/* The report's warnings, one per line, into buf. */
const char *warnings_text(json_t *root, char *buf, size_t len);
/* Every @expect/@peak/@temporary/@leak/@freed of the fixture against the report. */
void check_annotations(json_t *root, const struct py_fixture *f, struct problems *p);

/* The stacks whose user line is (fixture, line): fn gets the report's frame
 * table and the stack's frames (innermost first).  Their number. */
typedef void (*stack_fn)(void *ctx, json_t *frames_table, json_t *stack_frames);
int for_stacks_of(json_t *root, const char *fixture, int line, stack_fn fn, void *ctx);
json_t *frame_at(json_t *table, json_t *stack_frames, size_t k);
/* A frame of a .py file (or of Python code without a file, "<string>"). */
int frame_is_python(json_t *frame);

/* run_suite(s), or 1 with a line saying so when PYTHON is not there. */
struct Suite;
int py_run_suite(struct Suite *s);

#endif
