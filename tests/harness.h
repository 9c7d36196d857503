/* memprof tests: helpers shared by the Check programs: running commands with
 * captured output, building fixtures, reading files. */
#ifndef MEMPROF_TEST_HARNESS_H
#define MEMPROF_TEST_HARNESS_H

#include <stddef.h>

struct run_output {
    int status;       /* like a shell's $?: exit code, or 128+signal */
    char *out, *err;  /* NUL-terminated captured stdout and stderr */
    size_t out_len, err_len;
};

/* Run argv (argv[0] searched on PATH) with optional stdin text and extra
 * environment entries ("NAME=value", NULL-terminated, may be NULL).  Kills it
 * after timeout_s seconds.  Returns 0 or -1 if it could not be started. */
int run_cmd(char *const argv[], const char *stdin_text, char *const extra_env[], int timeout_s,
            struct run_output *o);
void run_output_free(struct run_output *o);

const char *memprof_path(void);   /* $MEMPROF, or ./memprof */
const char *test_tmp_dir(void);   /* $MEMPROF_TEST_TMP (created), or /tmp */
const char *repo_path(const char *rel); /* absolute path of a file in the repo (static buffer rotation) */

/* Compile tests/fixtures/NAME with `compiler flags` into the tmp dir as
 * OUTNAME; returns the path (static storage, valid until the next 8 calls) or
 * NULL (with the compiler's output on stderr). */
const char *build_fixture(const char *name, const char *compiler, const char *flags, const char *outname);

char *read_file(const char *path, size_t *len);

/* The first n numbers (digits, "," as thousands separator) after `marker`
 * in text, as valgrind prints them.  0, or -1 if the marker is missing. */
int numbers_after(const char *text, const char *marker, unsigned long long *out, int n);

/* Fixture annotations (grammar: tests/fixtures/README): calls
 * fn(ctx, line, keyword, body) for each "/\* @KEYWORD body *\/" in
 * tests/fixtures/NAME, in order; body is writable. */
typedef void (*annotation_fn)(void *ctx, int line, const char *keyword, char *body);
void scan_annotations(const char *name, annotation_fn fn, void *ctx);
/* The number after "NAME=" in an annotation body (fails the test if absent). */
unsigned long long annotation_field(const char *body, const char *name);
/* "@build COMPILER FLAGS...": split into compiler and flags (128 bytes each). */
void annotation_build(char *body, char *compiler, char *flags);

/* Number of '\n' in s. */
int count_lines(const char *s);

/* Runs every test of the suite (CK_NORMAL) and frees it: 0 when all
 * passed, else 1 (the test program's exit status). */
struct Suite;
int run_suite(struct Suite *s);

#endif
