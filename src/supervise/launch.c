/* memprof: PATH lookup with execvp's rules and the ELF static/dynamic check. */
#define _GNU_SOURCE
#include "launch.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int check_candidate(const char *path, int *saw_eacces)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return -1;
    if (S_ISDIR(st.st_mode) || access(path, X_OK) != 0) {
        *saw_eacces = 1;
        return -1;
    }
    return 0;
}

int mp_find_program(const char *name, char *path, size_t pathlen, char *err, size_t errlen)
{
    int saw_eacces = 0;
    if (name[0] == '\0') {
        snprintf(err, errlen, "memprof: empty program name: give the program to run, e.g. memprof ./app");
        return 127;
    }
    if (strchr(name, '/')) {
        struct stat st;
        if (stat(name, &st) != 0) {
            snprintf(err, errlen, "memprof: %s: no such file: check the path", name);
            return 127;
        }
        if (S_ISDIR(st.st_mode) || access(name, X_OK) != 0) {
            snprintf(err, errlen, "memprof: %s: not executable: chmod +x it or check the path", name);
            return 126;
        }
        snprintf(path, pathlen, "%s", name);
        return 0;
    }
    const char *env = getenv("PATH");
    const char *dirs = env ? env : "/usr/local/bin:/usr/bin:/bin";
    const char *p = dirs;
    for (;;) {
        const char *end = strchr(p, ':');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char candidate[4096];
        if (len == 0)
            snprintf(candidate, sizeof candidate, "%s", name);
        else
            snprintf(candidate, sizeof candidate, "%.*s/%s", (int)len, p, name);
        if (check_candidate(candidate, &saw_eacces) == 0) {
            snprintf(path, pathlen, "%s", candidate);
            return 0;
        }
        if (!end)
            break;
        p = end + 1;
    }
    if (saw_eacces) {
        snprintf(err, errlen, "memprof: %s: permission denied: the file on PATH is not executable", name);
        return 126;
    }
    snprintf(err, errlen, "memprof: %s: command not found: check the name or PATH", name);
    return 127;
}

enum mp_exe_kind mp_exe_kind(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return MP_EXE_OTHER;
    Elf64_Ehdr eh;
    enum mp_exe_kind kind = MP_EXE_OTHER;
    ssize_t n = pread(fd, &eh, sizeof eh, 0);
    if (n >= 2 && memcmp(&eh, "#!", 2) == 0) {
        kind = MP_EXE_SCRIPT;
    } else if (n == (ssize_t)sizeof eh && memcmp(eh.e_ident, ELFMAG, SELFMAG) == 0 &&
               eh.e_ident[EI_CLASS] == ELFCLASS64) {
        kind = MP_EXE_STATIC;
        for (int i = 0; i < eh.e_phnum; i++) {
            Elf64_Phdr ph;
            if (pread(fd, &ph, sizeof ph, (off_t)(eh.e_phoff + (uint64_t)i * eh.e_phentsize)) != sizeof ph)
                break;
            if (ph.p_type == PT_INTERP) {
                kind = MP_EXE_DYNAMIC;
                break;
            }
        }
    }
    close(fd);
    return kind;
}
