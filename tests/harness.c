/* memprof tests: process running with captured output, fixture builds, file reads. */
#define _GNU_SOURCE
#include "harness.h"

#include <check.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <regex.h>
#include <signal.h>
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
    static char bufs[8][4096];
    static int next;
    char *out = bufs[next++ % 8];
    snprintf(out, 4096, "%s/%s", test_tmp_dir(), outname);
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "%s %s -o '%s' '%s' -pthread", compiler, flags, out,
             repo_path(name));
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
