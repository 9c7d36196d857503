/* memprof tests: process running with captured output, fixture builds, file
 * reads, fixture annotations, valgrind's numbers, memprof's JSON summary. */
#define _GNU_SOURCE
#include "harness.h"

#include <check.h>
#include <gelf.h>
#include <libelf.h>

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <png.h>
#include <poll.h>
#include <regex.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static void append(char **buf, size_t *len, size_t *cap, const char *data, size_t n)
{
    if (*len + n + 1 > *cap) {
        while (*len + n + 1 > *cap)
            *cap = *cap ? *cap * 2 : 4096;
        *buf = realloc(*buf, *cap);
    }
    memcpy(*buf + *len, data, n);
    *len += n;
    (*buf)[*len] = '\0';
}

int run_cmd(char *const argv[], const char *stdin_text, char *const extra_env[], int timeout_s,
            struct run_output *o)
{
    memset(o, 0, sizeof *o);
    int in[2], out[2], err[2];
    if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC))
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        dup2(err[1], 2);
        for (size_t i = 0; extra_env && extra_env[i]; i++)
            putenv(extra_env[i]);
        execvp(argv[0], argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    close(err[1]);
    if (stdin_text) {
        size_t n = strlen(stdin_text);
        if (write(in[1], stdin_text, n) != (ssize_t)n)
            perror("write stdin");
    }
    close(in[1]);
    size_t out_cap = 0, err_cap = 0;
    append(&o->out, &o->out_len, &out_cap, "", 0);
    append(&o->err, &o->err_len, &err_cap, "", 0);
    struct pollfd fds[2] = { { out[0], POLLIN, 0 }, { err[0], POLLIN, 0 } };
    int open_fds = 2;
    time_t deadline = time(NULL) + timeout_s;
    while (open_fds > 0) {
        int left = (int)(deadline - time(NULL));
        if (left <= 0) {
            kill(pid, SIGKILL);
            break;
        }
        if (poll(fds, 2, left * 1000) < 0 && errno != EINTR)
            break;
        for (int i = 0; i < 2; i++) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            char buf[65536];
            ssize_t n = read(fds[i].fd, buf, sizeof buf);
            if (n <= 0) {
                close(fds[i].fd);
                fds[i].fd = -1;
                open_fds--;
            } else if (i == 0) {
                append(&o->out, &o->out_len, &out_cap, buf, (size_t)n);
            } else {
                append(&o->err, &o->err_len, &err_cap, buf, (size_t)n);
            }
        }
    }
    for (int i = 0; i < 2; i++)
        if (fds[i].fd >= 0)
            close(fds[i].fd);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    o->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return 0;
}

void run_output_free(struct run_output *o)
{
    free(o->out);
    free(o->err);
    memset(o, 0, sizeof *o);
}

const char *memprof_path(void)
{
    const char *p = getenv("MEMPROF");
    return p && *p ? p : "./memprof";
}

const char *test_tmp_dir(void)
{
    const char *p = getenv("MEMPROF_TEST_TMP");
    if (!p || !*p)
        return "/tmp";
    mkdir(p, 0755);
    return p;
}

const char *repo_path(const char *rel)
{
    static char bufs[8][4096];
    static int next;
    char *b = bufs[next++ % 8];
    char cwd[2048];
    if (!getcwd(cwd, sizeof cwd))
        cwd[0] = '\0';
    snprintf(b, 4096, "%s/%s", cwd, rel);
    return b;
}

const char *build_fixture(const char *name, const char *compiler, const char *flags, const char *outname)
{
    return build_fixture_with(name, compiler, flags, "", outname);
}

const char *build_fixture_with(const char *name, const char *compiler, const char *flags, const char *after,
                               const char *outname)
{
    static char bufs[8][4096];
    static int next;
    char *out = bufs[next++ % 8];
    snprintf(out, 4096, "%s/%s", test_tmp_dir(), outname);
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "%s %s -o '%s' '%s' %s -pthread", compiler, flags, out,
             repo_path(name), after);
    if (system(cmd) != 0) {
        fprintf(stderr, "fixture build failed: %s\n", cmd);
        return NULL;
    }
    return out;
}

char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (n + 1 >= cap)
            buf = realloc(buf, cap *= 2);
    }
    fclose(f);
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

int run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}

int numbers_after(const char *text, const char *marker, unsigned long long *out, int n)
{
    const char *p = strstr(text, marker);
    if (!p)
        return -1;
    p += strlen(marker);
    for (int i = 0; i < n; i++) {
        while (*p && (*p < '0' || *p > '9'))
            p++;
        unsigned long long v = 0;
        for (; (*p >= '0' && *p <= '9') || *p == ','; p++)
            if (*p != ',')
                v = v * 10 + (unsigned long long)(*p - '0');
        out[i] = v;
    }
    return 0;
}

void scan_annotations(const char *name, annotation_fn fn, void *ctx)
{
    char rel[256];
    snprintf(rel, sizeof rel, "tests/fixtures/%s", name);
    char *src = read_file(repo_path(rel), NULL);
    ck_assert_msg(src != NULL, "cannot read %s", rel);
    regex_t re;
    ck_assert_int_eq(regcomp(&re, "/\\* @([a-z]+) ([^*]*) \\*/", REG_EXTENDED), 0);
    int lineno = 1;
    for (char *line = src; line && *line; lineno++) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        const char *p = line;
        regmatch_t m[3];
        while (regexec(&re, p, 3, m, 0) == 0) {
            char kw[16], body[512];
            snprintf(kw, sizeof kw, "%.*s", (int)(m[1].rm_eo - m[1].rm_so), p + m[1].rm_so);
            snprintf(body, sizeof body, "%.*s", (int)(m[2].rm_eo - m[2].rm_so), p + m[2].rm_so);
            fn(ctx, lineno, kw, body);
            p += m[0].rm_eo;
        }
        line = nl ? nl + 1 : NULL;
    }
    regfree(&re);
    free(src);
}

unsigned long long annotation_field(const char *body, const char *name)
{
    char pat[64];
    snprintf(pat, sizeof pat, "%s=", name);
    const char *p = strstr(body, pat);
    ck_assert_msg(p != NULL, "annotation field %s missing in: %s", name, body);
    return strtoull(p + strlen(pat), NULL, 10);
}

void annotation_build(char *body, char *compiler, char *flags)
{
    char *sp = strchr(body, ' ');
    ck_assert_ptr_nonnull(sp);
    *sp = '\0';
    snprintf(compiler, 128, "%.100s", body);
    snprintf(flags, 128, "%.100s", sp + 1);
}

/* ---- The annotated fixtures' expectations ---- */

/* The entry of `line`, made on first use. */
static struct fixture_line *fixture_line_for(struct fixture_spec *f, int line)
{
    for (int i = 0; i < f->n_lines; i++)
        if (f->lines[i].line == line)
            return &f->lines[i];
    ck_assert_int_lt(f->n_lines, FIXTURE_MAX_LINES);
    struct fixture_line *l = &f->lines[f->n_lines++];
    memset(l, 0, sizeof *l);
    l->line = line;
    return l;
}

/* One annotation of the fixture being parsed (scan_annotations callback). */
static void fixture_annotation(void *ctx, int line, const char *kw, char *body)
{
    struct fixture_spec *f = ctx;
    if (strcmp(kw, "build") == 0) {
        ck_assert_int_lt(f->n_builds, FIXTURE_MAX_BUILDS);
        annotation_build(body, f->builds[f->n_builds][0], f->builds[f->n_builds][1]);
        f->n_builds++;
    } else if (strcmp(kw, "total") == 0) {
        f->has_total = 1;
        f->total_calls = annotation_field(body, "alloc_calls");
        f->total_bytes = annotation_field(body, "allocated_bytes");
        f->total_frees = annotation_field(body, "free_calls");
    } else if (strcmp(kw, "unattributed") == 0) {
        f->unattributed_calls = annotation_field(body, "alloc_calls");
        f->unattributed_bytes = annotation_field(body, "allocated_bytes");
    } else if (strcmp(kw, "premain") == 0) {
        f->premain_calls = annotation_field(body, "alloc_calls");
        f->premain_bytes = annotation_field(body, "allocated_bytes");
        f->premain_frees = annotation_field(body, "free_calls");
    } else if (strcmp(kw, "peaktotal") == 0) {
        f->has_peaktotal = 1;
        f->peak_heap = annotation_field(body, "heap");
        f->leaked_bytes = annotation_field(body, "leaked_bytes");
        f->leaked_blocks = annotation_field(body, "leaked_blocks");
        f->temporary_calls = annotation_field(body, "temporary_calls");
        f->reached_line = (int)annotation_field(body, "reached_line");
        f->caller_line = (int)annotation_field(body, "caller_line");
    } else if (strcmp(kw, "expect") == 0) {
        struct fixture_line *l = fixture_line_for(f, line);
        l->has_expect++;
        f->n_expect++;
        l->alloc_calls = annotation_field(body, "alloc_calls");
        l->allocated_bytes = annotation_field(body, "allocated_bytes");
        l->free_calls = annotation_field(body, "free_calls");
        l->freed_bytes = annotation_field(body, "freed_bytes");
    } else if (strcmp(kw, "mappedtotal") == 0) {
        f->has_mappedtotal = 1;
        f->map_calls = annotation_field(body, "map_calls");
        f->mapped_bytes = annotation_field(body, "mapped_bytes");
        f->unmap_calls = annotation_field(body, "unmap_calls");
        f->unmapped_bytes = annotation_field(body, "unmapped_bytes");
        f->mapped_live = annotation_field(body, "mapped_live");
        f->peak_mapped = annotation_field(body, "peak_mapped");
        f->peak_total = annotation_field(body, "peak_total");
        f->peak_total_mapped = annotation_field(body, "peak_total_mapped");
    } else if (strcmp(kw, "mapped") == 0) {
        struct fixture_line *l = fixture_line_for(f, line);
        l->has_mapped++;
        f->n_mapped++;
        l->map_calls = annotation_field(body, "calls");
        l->mapped_bytes = annotation_field(body, "bytes");
        l->unmapped_bytes = annotation_field(body, "unmapped");
        l->mapped_live = annotation_field(body, "live");
        l->peak_total = annotation_field(body, "peak_total");
    } else if (strcmp(kw, "fold") == 0) {
        struct fixture_line *l = fixture_line_for(f, line);
        l->has_fold++;
        l->fold_calls = annotation_field(body, "alloc_calls");
    } else if (strcmp(kw, "dtv") == 0) {
        struct fixture_line *l = fixture_line_for(f, line);
        l->has_dtv++;
        l->dtv_calls = annotation_field(body, "calls");
    } else if (strcmp(kw, "incl") == 0) {
        struct fixture_line *l = fixture_line_for(f, line);
        l->has_incl++;
        f->n_incl++;
        l->occurrences = annotation_field(body, "occurrences");
        l->incl_bytes = annotation_field(body, "bytes");
    } else if (strcmp(kw, "peak") == 0) {
        struct fixture_line *l = fixture_line_for(f, line);
        l->has_peak++;
        f->n_peak++;
        l->peak_bytes = annotation_field(body, "bytes");
    } else if (strcmp(kw, "leak") == 0) {
        struct fixture_line *l = fixture_line_for(f, line);
        l->has_leak++;
        f->n_leak++;
        l->leak_bytes = annotation_field(body, "bytes");
        l->leak_blocks = annotation_field(body, "blocks");
    } else if (strcmp(kw, "leakkind") == 0 || strcmp(kw, "leakkinds") == 0) {
        static const char *const kinds[4] = { "definite", "indirect", "possible", "reachable" };
        uint64_t *bytes = f->kind_bytes, *blocks = f->kind_blocks;
        if (strcmp(kw, "leakkind") == 0) {
            struct fixture_line *l = fixture_line_for(f, line);
            l->has_leakkind++;
            f->n_leakkind++;
            bytes = l->kind_bytes;
            blocks = l->kind_blocks;
        } else {
            f->has_leakkinds = 1;
        }
        for (int k = 0; k < 4; k++) {
            char name[32];
            snprintf(name, sizeof name, "%s_bytes", kinds[k]);
            bytes[k] = annotation_field(body, name);
            snprintf(name, sizeof name, "%s_blocks", kinds[k]);
            blocks[k] = annotation_field(body, name);
        }
    } else if (strcmp(kw, "temporary") == 0) {
        struct fixture_line *l = fixture_line_for(f, line);
        l->has_temporary++;
        f->n_temporary++;
        l->temporary_calls = annotation_field(body, "calls");
    }
}

void fixture_parse(const char *name, struct fixture_spec *f)
{
    memset(f, 0, sizeof *f);
    f->name = name;
    scan_annotations(name, fixture_annotation, f);
    ck_assert_int_gt(f->n_builds, 0);
}

const struct fixture_line *fixture_line_at(const struct fixture_spec *f, int line)
{
    for (int i = 0; i < f->n_lines; i++)
        if (f->lines[i].line == line)
            return &f->lines[i];
    return NULL;
}

int fixture_source_line(const char *name, const char *needle)
{
    char path[512], text[1024];
    snprintf(path, sizeof path, "tests/fixtures/%s", name);
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot read %s", path);
    int ln = 0, found = 0;
    while (!found && fgets(text, sizeof text, f)) {
        ln++;
        if (strstr(text, needle))
            found = ln;
    }
    fclose(f);
    return found;
}

int fixture_file_is(const char *path, const char *name)
{
    if (!path)
        return 0;
    size_t len = strlen(path), n = strlen(name);
    return len >= n && strcmp(path + len - n, name) == 0 && (len == n || path[len - n - 1] == '/');
}

void fixture_tag(char *tag, size_t size, const char *prefix, const char *name, int b)
{
    snprintf(tag, size, "%s%s_%d", prefix, name, b);
    for (char *c = tag; *c; c++)
        if (*c == '.' || *c == '+')
            *c = '_';
}

/* ---- the objects a program loads ---- */

static int has_tls(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    elf_version(EV_CURRENT);
    Elf *elf = elf_begin(fd, ELF_C_READ, NULL);
    size_t n = 0;
    int tls = 0;
    if (elf && elf_getphdrnum(elf, &n) == 0)
        for (size_t i = 0; i < n; i++) {
            GElf_Phdr ph;
            if (gelf_getphdr(elf, (int)i, &ph) && ph.p_type == PT_TLS)
                tls = 1;
        }
    if (elf)
        elf_end(elf);
    close(fd);
    return tls;
}

/* The objects `exe` loads (with `preload`), from ldd. */
struct process_objects objects_of(const char *exe, const char *preload)
{
    char env_preload[512];
    snprintf(env_preload, sizeof env_preload, "LD_PRELOAD=%s", preload ? preload : "");
    char *env[] = { env_preload, NULL };
    char *argv[] = { "ldd", (char *)exe, NULL };
    struct run_output o;
    ck_assert_int_eq(run_cmd(argv, NULL, env, 60, &o), 0);
    ck_assert_msg(o.status == 0, "ldd %s: %s", exe, o.err);
    struct process_objects r = { has_tls(exe), 0 };
    for (char *line = strtok(o.out, "\n"); line; line = strtok(NULL, "\n")) {
        char *path = strchr(line, '/');
        if (!path)
            continue;
        path[strcspn(path, " ")] = '\0';
        r.tls_modules += has_tls(path);
        if (strstr(path, "/libstdc++.so"))
            r.libstdcxx = 1;
    }
    run_output_free(&o);
    return r;
}

/* ---- valgrind ---- */

void memcheck_numbers(const char *exe, const char *marker, unsigned long long *v, int n, int must_succeed)
{
    struct run_output o;
    char *argv[] = { "valgrind", "--run-libc-freeres=no", "--run-cxx-freeres=no", (char *)exe, NULL };
    ck_assert_int_eq(run_cmd(argv, NULL, NULL, 300, &o), 0);
    if (must_succeed)
        ck_assert_msg(o.status == 0, "valgrind %s: status %d\n%.2000s", exe, o.status, o.err);
    ck_assert_msg(numbers_after(o.err, marker, v, n) == 0, "no valgrind summary (\"%s\"):\n%s", marker, o.err);
    run_output_free(&o);
}

void memcheck_leak_kinds(char *const argv[], uint64_t bytes[4], uint64_t blocks[4])
{
    static const char *const markers[4] = { "definitely lost: ", "indirectly lost: ", "possibly lost: ",
                                             "still reachable: " };
    char *args[64] = { "valgrind", "--leak-check=full", "--show-leak-kinds=all", "--run-libc-freeres=no",
                       "--run-cxx-freeres=no" };
    size_t n = 5;
    for (size_t i = 0; argv[i] && n + 1 < sizeof args / sizeof *args; i++)
        args[n++] = argv[i];
    args[n] = NULL;
    struct run_output o;
    ck_assert_int_eq(run_cmd(args, NULL, NULL, 300, &o), 0);
    int all_freed = strstr(o.err, "All heap blocks were freed") != NULL;
    for (int k = 0; k < 4; k++) {
        unsigned long long v[2] = { 0, 0 };
        ck_assert_msg(all_freed || numbers_after(o.err, markers[k], v, 2) == 0, "no memcheck \"%s\" in:\n%s",
                      markers[k], o.err);
        bytes[k] = v[0];
        blocks[k] = v[1];
    }
    run_output_free(&o);
}

void valgrind_totals(const char *exe, int must_succeed, uint64_t *allocs, uint64_t *frees, uint64_t *bytes)
{
    unsigned long long v[3];
    memcheck_numbers(exe, "total heap usage: ", v, 3, must_succeed);
    *allocs = v[0];
    *frees = v[1];
    *bytes = v[2];
}

/* ---- memprof's JSON report ---- */

json_t *tree_process(json_t *root, int id)
{
    json_t *procs = json_object_get(root, "processes");
    json_t *p = procs ? json_array_get(procs, (size_t)(id - 1)) : id == 1 ? root : NULL;
    return p ? json_incref(p) : NULL;
}

uint64_t summary_u64(json_t *root, const char *key)
{
    json_t *v = json_object_get(json_object_get(root, "summary"), key);
    ck_assert_msg(json_is_integer(v), "summary.%s is not a number", key);
    return (uint64_t)json_integer_value(v);
}

void json_leak_kinds(json_t *o, uint64_t bytes[4], uint64_t blocks[4])
{
    static const char *const names[4] = { "definitely_lost", "indirectly_lost", "possibly_lost", "still_reachable" };
    for (int k = 0; k < 4; k++) {
        char key[48];
        snprintf(key, sizeof key, "%s_bytes", names[k]);
        json_t *v = json_object_get(o, key);
        ck_assert_msg(json_is_integer(v), "%s is not a number", key);
        bytes[k] = (uint64_t)json_integer_value(v);
        snprintf(key, sizeof key, "%s_blocks", names[k]);
        v = json_object_get(o, key);
        ck_assert_msg(json_is_integer(v), "%s is not a number", key);
        blocks[k] = (uint64_t)json_integer_value(v);
    }
}

uint64_t obj_u64(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? (uint64_t)json_integer_value(v) : 0;
}

/* ---- Discrepancies ---- */

void problem(struct problems *p, const char *fmt, ...)
{
    p->n++;
    if (p->len + 2 >= sizeof p->text)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(p->text + p->len, sizeof p->text - p->len - 1, fmt, ap);
    va_end(ap);
    if (n > 0)
        p->len += (size_t)n < sizeof p->text - p->len - 1 ? (size_t)n : sizeof p->text - p->len - 2;
    p->text[p->len++] = '\n';
    p->text[p->len] = '\0';
}

/* ---- The consumers of memprof's pictures and exports ---- */

void need_program(const char *program, const char *package)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "command -v '%s' >/dev/null 2>&1", program);
    ck_assert_msg(system(cmd) == 0, "%s is not installed: scripts/install-deps installs it (Debian package %s)",
                  program, package);
}

void chromium_screenshot(const char *file, const char *png, int width, int height)
{
    char w[16], h[16];
    snprintf(w, sizeof w, "%d", width);
    snprintf(h, sizeof h, "%d", height);
    char *argv[] = { (char *)repo_path("scripts/chromium"), "screenshot", (char *)file, (char *)png, w, h, NULL };
    struct run_output o;
    ck_assert_int_eq(run_cmd(argv, NULL, NULL, 180, &o), 0);
    ck_assert_msg(o.status == 0, "chromium could not render %s (status %d): %s%s", file, o.status, o.err,
                  o.status == 3 ? " (run scripts/install-deps)" : "");
    run_output_free(&o);
}

void picture_load(const char *path, struct picture *img)
{
    png_image pi;
    memset(&pi, 0, sizeof pi);
    pi.version = PNG_IMAGE_VERSION;
    ck_assert_msg(png_image_begin_read_from_file(&pi, path), "%s: not a PNG: %s", path, pi.message);
    pi.format = PNG_FORMAT_RGBA;
    img->width = (int)pi.width;
    img->height = (int)pi.height;
    img->rgba = malloc(PNG_IMAGE_SIZE(pi));
    ck_assert_ptr_nonnull(img->rgba);
    ck_assert_msg(png_image_finish_read(&pi, NULL, img->rgba, 0, NULL), "%s: %s", path, pi.message);
}

void picture_free(struct picture *img)
{
    free(img->rgba);
    img->rgba = NULL;
}

static int near(const unsigned char *px, unsigned rgb, int tol)
{
    int r = (int)(rgb >> 16) & 0xff, g = (int)(rgb >> 8) & 0xff, b = (int)rgb & 0xff;
    return abs(px[0] - r) <= tol && abs(px[1] - g) <= tol && abs(px[2] - b) <= tol;
}

long picture_count_near(const struct picture *img, unsigned rgb, int tolerance)
{
    long n = 0;
    for (long i = 0; i < (long)img->width * img->height; i++)
        n += near(img->rgba + 4 * i, rgb, tolerance);
    return n;
}

long picture_count_ink(const struct picture *img, unsigned background)
{
    long n = 0;
    for (long i = 0; i < (long)img->width * img->height; i++)
        n += !near(img->rgba + 4 * i, 0xffffff, 8) && !near(img->rgba + 4 * i, background, 8);
    return n;
}

long picture_distinct_colours(const struct picture *img, long cap)
{
    /* a bitmap of the 2^24 colours */
    unsigned char *seen = calloc(1 << 21, 1);
    ck_assert_ptr_nonnull(seen);
    long n = 0;
    for (long i = 0; i < (long)img->width * img->height && n < cap; i++) {
        const unsigned char *px = img->rgba + 4 * i;
        unsigned c = (unsigned)px[0] << 16 | (unsigned)px[1] << 8 | px[2];
        if (!(seen[c >> 3] & (1 << (c & 7)))) {
            seen[c >> 3] |= (unsigned char)(1 << (c & 7));
            n++;
        }
    }
    free(seen);
    return n;
}

size_t damage_eh_frame(const char *exe, uint64_t seed)
{
    ck_assert(elf_version(EV_CURRENT) != EV_NONE);
    int fd = open(exe, O_RDWR);
    ck_assert_int_ge(fd, 0);
    Elf *elf = elf_begin(fd, ELF_C_READ, NULL);
    ck_assert_ptr_nonnull(elf);
    size_t shstrndx;
    ck_assert_int_eq(elf_getshdrstrndx(elf, &shstrndx), 0);
    off_t offset = -1;
    size_t size = 0;
    for (Elf_Scn *scn = NULL; (scn = elf_nextscn(elf, scn)) != NULL;) {
        GElf_Shdr sh;
        gelf_getshdr(scn, &sh);
        const char *name = elf_strptr(elf, shstrndx, sh.sh_name);
        if (name && strcmp(name, ".eh_frame") == 0) {
            offset = (off_t)sh.sh_offset;
            size = sh.sh_size;
        }
    }
    elf_end(elf);
    ck_assert_msg(offset > 0 && size > 64, "no .eh_frame in %s", exe);
    uint32_t cie_length;
    ck_assert_int_eq(pread(fd, &cie_length, 4, offset), 4);
    size_t keep = 4 + cie_length; /* the first CIE stays: the FDEs are garbage */
    ck_assert_uint_lt(keep, size);
    unsigned char *junk = malloc(size - keep);
    for (size_t i = 0; i < size - keep; i++) {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        junk[i] = (unsigned char)seed;
    }
    ck_assert_int_eq(pwrite(fd, junk, size - keep, offset + (off_t)keep), (ssize_t)(size - keep));
    free(junk);
    close(fd);
    return size - keep;
}
