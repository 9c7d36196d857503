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
 * not writable by group or others?  When it is a directory but not, why
 * (if why) names it `path` (`name` under it, if name). */
static int private_dir(int fd, struct sym_cache_refusal *why, const char *path, const char *name)
{
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISDIR(st.st_mode))
        return 0;
    int ours = st.st_uid == geteuid(), writable = (st.st_mode & (S_IWGRP | S_IWOTH)) != 0;
    if (ours && !writable)
        return 1;
    if (why && !why->dir[0]) {
        snprintf(why->dir, sizeof why->dir, "%s%s%s", path, name ? "/" : "", name ? name : "");
        why->writable = writable;
        why->owner = st.st_uid;
    }
    return 0;
}

/* Opens `name` under the directory at `at` (`path`; made 0700 when
 * missing) without following a symlink; -1 unless it is a private
 * directory. */
static int open_part(int at, const char *path, const char *name, struct sym_cache_refusal *why)
{
    int fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && (mkdirat(at, name, 0700) == 0 || errno == EEXIST))
        fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0 && !private_dir(fd, why, path, name)) {
        close(fd);
        fd = -1;
    }
    return fd;
}

/* The base directory: opened as named; when missing, made inside its
 * parent only if that parent is private to us (a missing base under a
 * shared parent, /tmp/x, is no one's fault: no reason given). */
static int open_base(const char *base, struct sym_cache_refusal *why)
{
    int fd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        char *a = strdup(base), *b = strdup(base), *c = strdup(base);
        int parent = a && b && c ? open(dirname(a), O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
        if (parent >= 0 && private_dir(parent, NULL, NULL, NULL))
            fd = open_part(parent, dirname(c), basename(b), why);
        if (parent >= 0)
            close(parent);
        free(a);
        free(b);
        free(c);
        return fd;
    }
    if (fd >= 0 && !private_dir(fd, why, base, NULL)) {
        close(fd);
        fd = -1;
    }
    return fd;
}

int sym_cache_dir_open(const char *leaf, char **path, struct sym_cache_refusal *why)
{
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    const char *parts[3];
    const char *base;
    int n = 0;
    if (why)
        why->dir[0] = '\0';
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
    char at_path[4096];
    snprintf(at_path, sizeof at_path, "%s", base);
    int fd = open_base(base, why);
    for (int i = 0; fd >= 0 && i < n; i++) {
        int next = open_part(fd, at_path, parts[i], why);
        close(fd);
        fd = next;
        size_t len = strlen(at_path);
        snprintf(at_path + len, sizeof at_path - len, "/%s", parts[i]);
    }
    if (fd < 0)
        return -1;
    if (asprintf(path, n == 3 ? "%s/.cache/memprof/%s" : "%s/memprof/%s", base, leaf) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}
