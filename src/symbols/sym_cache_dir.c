/* memprof symbolizer: memprof's private cache directory (see
 * sym_cache_dir.h).  The base ($XDG_CACHE_HOME or $HOME) is opened as
 * named (a home reached through a symlink is normal) and checked by what
 * it is (fstat), not by its name; it is made only inside a parent that is
 * itself private to the user. */
#define _GNU_SOURCE
#include "sym_cache_dir.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Is the directory open at fd ours alone: owned by the effective user,
 * not writable by group or others? */
static int private_dir(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == geteuid() &&
           (st.st_mode & (S_IWGRP | S_IWOTH)) == 0;
}

/* Opens `name` under the directory at `at` (made 0700 when missing) without
 * following a symlink; -1 unless it is a private directory. */
static int open_part(int at, const char *name)
{
    int fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && (mkdirat(at, name, 0700) == 0 || errno == EEXIST))
        fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0 && !private_dir(fd)) {
        close(fd);
        fd = -1;
    }
    return fd;
}

/* The base directory: opened as named; when missing, made inside its
 * parent only if that parent is private to us. */
static int open_base(const char *base)
{
    int fd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        char *a = strdup(base), *b = strdup(base);
        int parent = a && b ? open(dirname(a), O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
        if (parent >= 0 && private_dir(parent))
            fd = open_part(parent, basename(b));
        if (parent >= 0)
            close(parent);
        free(a);
        free(b);
    }
    if (fd >= 0 && !private_dir(fd)) {
        close(fd);
        fd = -1;
    }
    return fd;
}

int sym_cache_dir_open(const char *leaf, char **path)
{
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    const char *parts[3];
    const char *base;
    int n = 0;
    if (xdg && xdg[0] == '/') {
        base = xdg;
    } else if (home && home[0] == '/') {
        base = home;
        parts[n++] = ".cache";
    } else {
        return -1;
    }
    parts[n++] = "memprof";
    parts[n++] = leaf;
    int fd = open_base(base);
    for (int i = 0; fd >= 0 && i < n; i++) {
        int next = open_part(fd, parts[i]);
        close(fd);
        fd = next;
    }
    if (fd < 0)
        return -1;
    if (asprintf(path, n == 3 ? "%s/.cache/memprof/%s" : "%s/memprof/%s", base, leaf) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}
