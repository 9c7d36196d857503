/* memprof: report files written whole or not at all (see out_file.h). */
#define _GNU_SOURCE
#include "out_file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void clear(struct mp_out_file *o)
{
    free(o->path);
    free(o->tmp);
    o->f = NULL;
    o->path = o->tmp = NULL;
}

int mp_out_open(struct mp_out_file *o, const char *path)
{
    memset(o, 0, sizeof *o);
    if (strcmp(path, "-") == 0) {
        o->f = stdout;
        return 0;
    }
    struct stat st;
    char *target = NULL;
    int exists = stat(path, &st) == 0;
    if (exists && !S_ISREG(st.st_mode)) {
        o->f = fopen(path, "we"); /* a terminal, a pipe, /dev/stdout: as is */
        if (!o->f)
            goto fail;
        o->path = strdup(path);
        return 0;
    }
    /* a symbolic link keeps pointing at the report: replace its target */
    target = exists ? realpath(path, NULL) : strdup(path);
    if (!target)
        goto fail;
    size_t len = strlen(target);
    const char *slash = strrchr(target, '/');
    size_t dir_len = slash ? (size_t)(slash - target) + 1 : 0;
    o->tmp = malloc(len + 32);
    if (!o->tmp)
        goto fail;
    snprintf(o->tmp, len + 32, "%.*s.%s.memprof-XXXXXX", (int)dir_len, target, target + dir_len);
    int fd = mkostemp(o->tmp, O_CLOEXEC);
    if (fd < 0 && exists && access(target, W_OK) == 0) {
        /* a writable file in a directory we cannot add to: in place, then */
        free(o->tmp);
        o->tmp = NULL;
        if (!(o->f = fopen(target, "we")))
            goto fail;
        o->path = target;
        return 0;
    }
    if (fd < 0)
        goto fail;
    mode_t mask = umask(0);
    umask(mask);
    fchmod(fd, exists ? st.st_mode & 07777 : 0666 & ~mask);
    o->f = fdopen(fd, "w");
    if (!o->f) {
        int e = errno;
        close(fd);
        unlink(o->tmp);
        errno = e;
        goto fail;
    }
    o->path = target;
    return 0;
fail:;
    int e = errno;
    fprintf(stderr, "memprof: cannot write %s: %s: choose a writable path\n", path, strerror(e));
    free(target);
    clear(o);
    errno = e;
    return -1;
}

int mp_out_check(const char *path)
{
    if (strcmp(path, "-") == 0)
        return 0;
    struct stat st;
    int exists = stat(path, &st) == 0;
    if (exists && (!S_ISREG(st.st_mode) || access(path, W_OK) == 0) && !S_ISDIR(st.st_mode))
        return 0; /* written as it is, or replaced when the directory allows */
    /* a new file: can one be made in its directory? */
    char *copy = strdup(path), *tmp = NULL;
    int e = ENOMEM;
    if (copy) {
        const char *slash = strrchr(copy, '/');
        size_t dir_len = slash ? (size_t)(slash - copy) + 1 : 0;
        tmp = malloc(dir_len + 32);
        if (tmp) {
            snprintf(tmp, dir_len + 32, "%.*s.memprof-check-XXXXXX", (int)dir_len, copy);
            int fd = mkostemp(tmp, O_CLOEXEC);
            e = errno;
            if (fd >= 0) {
                close(fd);
                unlink(tmp);
                e = 0;
            }
        }
    }
    if (exists && S_ISDIR(st.st_mode))
        e = EISDIR;
    free(copy);
    free(tmp);
    if (e == 0)
        return 0;
    fprintf(stderr, "memprof: cannot write %s: %s: choose a writable path\n", path, strerror(e));
    return -1;
}

int mp_out_commit(struct mp_out_file *o)
{
    if (!o->f)
        return 0;
    int failed = fflush(o->f) != 0 || ferror(o->f);
    int e = errno;
    if (o->f == stdout) {
        o->f = NULL;
        errno = e;
        return failed ? -1 : 0;
    }
    if (fclose(o->f) != 0 && !failed) {
        failed = 1;
        e = errno;
    }
    o->f = NULL;
    if (o->tmp) {
        if (!failed && rename(o->tmp, o->path) != 0) {
            failed = 1;
            e = errno;
        }
        if (failed)
            unlink(o->tmp);
    }
    clear(o);
    errno = e;
    return failed ? -1 : 0;
}

void mp_out_abort(struct mp_out_file *o)
{
    if (o->f == stdout)
        fflush(stdout);
    else if (o->f)
        fclose(o->f);
    if (o->tmp)
        unlink(o->tmp);
    clear(o);
}
