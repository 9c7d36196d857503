/* memprof tests: helpers shared by the Check programs: running commands with
 * captured output, building fixtures, reading files, the annotated
 * fixtures' expectations, valgrind's numbers, memprof's JSON summary. */
#ifndef MEMPROF_TEST_HARNESS_H
#define MEMPROF_TEST_HARNESS_H

#include <stddef.h>
#include <stdint.h>

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
/* The same with `after` (libraries) after the source file. */
const char *build_fixture_with(const char *name, const char *compiler, const char *flags, const char *after,
                               const char *outname);

char *read_file(const char *path, size_t *len);

/* Overwrites the FDEs of the ELF file's .eh_frame (all but its first CIE)
 * with random bytes from an xorshift seed; the bytes written.  The file
 * runs as before natively (nothing reads them); an unwinder that trusts
 * them reads wild addresses. */
size_t damage_eh_frame(const char *path, uint64_t seed);

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

/* ---- The annotated fixtures' expectations (tests/fixtures/README) ---- */

#define FIXTURE_MAX_BUILDS 6
#define FIXTURE_MAX_LINES 256

/* The annotations on one line of a fixture.  has_KIND counts the line's
 * @KIND annotations (the grammar allows one; the fields are the last one's);
 * the fields of a kind the line does not carry are 0. */
struct fixture_line {
    int line;
    int has_expect, has_incl, has_peak, has_leak, has_temporary, has_dtv, has_mapped, has_fold;
    uint64_t alloc_calls, allocated_bytes, free_calls, freed_bytes; /* @expect */
    uint64_t occurrences, incl_bytes;                               /* @incl */
    uint64_t peak_bytes;                                            /* @peak */
    uint64_t leak_bytes, leak_blocks;                               /* @leak */
    uint64_t temporary_calls;                                       /* @temporary */
    int has_leakkind;
    uint64_t kind_bytes[4], kind_blocks[4];                         /* @leakkind: definite, indirect,
                                                                       possible, reachable */
    uint64_t dtv_calls;                                             /* @dtv */
    uint64_t fold_calls;                                            /* @fold */
    uint64_t map_calls, mapped_bytes, unmapped_bytes, mapped_live, peak_total; /* @mapped */
};

/* All the annotations of one fixture; what a file does not carry is 0. */
struct fixture_spec {
    const char *name;                               /* NAME in tests/fixtures */
    char builds[FIXTURE_MAX_BUILDS][2][128];        /* @build: compiler, flags */
    int n_builds;
    int has_total, has_peaktotal;
    uint64_t total_calls, total_bytes, total_frees; /* @total */
    uint64_t unattributed_calls, unattributed_bytes; /* @unattributed */
    /* @premain (bp_cxx_global.cpp): the part of @total before main */
    uint64_t premain_calls, premain_bytes, premain_frees;
    /* @peaktotal */
    uint64_t peak_heap, leaked_bytes, leaked_blocks, temporary_calls;
    int reached_line, caller_line;
    /* @leakkinds: definite, indirect, possible, reachable */
    int has_leakkinds;
    uint64_t kind_bytes[4], kind_blocks[4];
    /* @mappedtotal */
    int has_mappedtotal;
    uint64_t map_calls, mapped_bytes, unmap_calls, unmapped_bytes, mapped_live, peak_mapped, peak_total,
        peak_total_mapped;
    struct fixture_line lines[FIXTURE_MAX_LINES];   /* lines with @expect, @incl, @peak, @leak or @temporary */
    int n_lines;
    int n_expect, n_incl, n_peak, n_leak, n_temporary, n_leakkind, n_mapped; /* annotations of each kind */
};

/* Reads the annotations of tests/fixtures/NAME into f (all of section 1
 * and 4 of the README, plus @premain; other keywords are passed over).
 * Fails the test if the file cannot be read, has no @build, or has more
 * builds or annotated lines than f holds. */
void fixture_parse(const char *name, struct fixture_spec *f);
/* The annotations of line `line`, or NULL if it has none. */
const struct fixture_line *fixture_line_at(const struct fixture_spec *f, int line);
/* The first line (1-based) of tests/fixtures/NAME whose text holds
 * `needle`, or 0. */
int fixture_source_line(const char *name, const char *needle);
/* Is `path` (may be NULL) the fixture NAME: the whole path, or its last
 * components? */
int fixture_file_is(const char *path, const char *name);
/* PREFIX NAME _B in tag, with '.' and '+' made '_': a file name for a build. */
void fixture_tag(char *tag, size_t size, const char *prefix, const char *name, int b);

/* ---- the objects a program loads ---- */

struct process_objects {
    int tls_modules;  /* objects with thread-local storage */
    int libstdcxx;    /* libstdc++ is loaded (its 72,704-byte pool: fixtures/README) */
};
/* From ldd (with LD_PRELOAD=preload when not NULL) and their PT_TLS headers. */
struct process_objects objects_of(const char *exe, const char *preload);
#define LIBSTDCXX_POOL 72704

/* ---- valgrind ---- */

/* Runs `valgrind --run-libc-freeres=no --run-cxx-freeres=no EXE` (memcheck)
 * and reads the n numbers after `marker` in its report into v: fails the
 * test if they are not there, or if must_succeed and valgrind's status is
 * not 0. */
void memcheck_numbers(const char *exe, const char *marker, unsigned long long *v, int n, int must_succeed);
/* memcheck's LEAK SUMMARY of `valgrind --leak-check=full --show-leak-kinds=all
 * --run-libc-freeres=no --run-cxx-freeres=no argv...`: bytes and blocks of
 * definitely, indirectly, possibly lost and still reachable (0 when memcheck
 * says every block was freed). */
void memcheck_leak_kinds(char *const argv[], uint64_t bytes[4], uint64_t blocks[4]);
/* memcheck's "total heap usage: A allocs, F frees, B bytes allocated". */
void valgrind_totals(const char *exe, int must_succeed, uint64_t *allocs, uint64_t *frees, uint64_t *bytes);

/* ---- memprof's JSON report (jansson) ---- */

struct json_t;
/* Process `id` (tree order, from 1) of a report: a schema-2 report's
 * processes[id - 1] (a new reference to it), or a schema-1 report itself
 * for id 1 (a new reference); NULL when there is no such process. */
struct json_t *tree_process(struct json_t *root, int id);
/* summary.KEY, which must be an integer (fails the test if not). */
uint64_t summary_u64(struct json_t *root, const char *key);
/* The eight leak-kind fields (KIND_bytes, KIND_blocks) of a JSON object
 * (the summary, a stack): fails the test if one is not a number. */
void json_leak_kinds(struct json_t *o, uint64_t bytes[4], uint64_t blocks[4]);
/* o.KEY if it is an integer, else 0. */
uint64_t obj_u64(struct json_t *o, const char *key);

/* ---- Discrepancies collected, so that one failure shows all of them ---- */

struct problems {
    char text[12000];
    size_t len;
    int n;
};
void problem(struct problems *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Number of '\n' in s. */
int count_lines(const char *s);

/* ---- The consumers of memprof's pictures and exports ----
 * scripts/install-deps installs them; a test that needs one fails (not
 * skips) when it is missing. */

/* Fails the test unless `program` is on PATH, naming the Debian package. */
void need_program(const char *program, const char *package);

/* Renders FILE (SVG or HTML) in headless Chromium (scripts/chromium) to
 * PNG at width x height; fails the test if that does not work. */
void chromium_screenshot(const char *file, const char *png, int width, int height);

/* A PNG read into memory as 8-bit RGBA (libpng). */
struct picture {
    int width, height;
    unsigned char *rgba;   /* width * height * 4 bytes */
};
void picture_load(const char *path, struct picture *img);
void picture_free(struct picture *img);
/* Pixels whose colour is within `tolerance` (per channel) of 0xRRGGBB. */
long picture_count_near(const struct picture *img, unsigned rgb, int tolerance);
/* Pixels that are not (near) white or the given background 0xRRGGBB. */
long picture_count_ink(const struct picture *img, unsigned background);
/* Distinct colours (RGB, exact), up to `cap`. */
long picture_distinct_colours(const struct picture *img, long cap);

/* Runs every test of the suite (CK_NORMAL) and frees it: 0 when all
 * passed, else 1 (the test program's exit status). */
struct Suite;
int run_suite(struct Suite *s);

#endif
