/* memprof symbolizer: inflated copies of compressed debug files (see
 * sym_debug_cache.h).  A copy is named after the file it was made from
 * (its name, and a hash of its device, inode, size and change time: a
 * reinstalled package gets a new copy), written under a temporary name
 * and renamed, so a run that reads it sees all of it or none; it is
 * checked (an ELF whose sections lie within it, none compressed, owned by
 * this user) before it is used. */
#define _GNU_SOURCE
#include "sym_debug_cache.h"

#include <errno.h>
#include <fcntl.h>
#include <elfutils/libdwelf.h>
#include <gelf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NAME_MAX_KEPT 96

static int cache_enabled(void)
{
    const char *v = getenv("MEMPROF_DEBUG_CACHE");
    return !v || !(strcmp(v, "0") == 0 || strcmp(v, "off") == 0 || strcmp(v, "no") == 0);
}

/* $XDG_CACHE_HOME/memprof/debug or $HOME/.cache/memprof/debug (malloc'd), or NULL. */
static char *cache_dir(void)
{
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    char *dir = NULL;
    int n;
    if (xdg && xdg[0] == '/')
        n = asprintf(&dir, "%s/memprof/debug", xdg);
    else if (home && home[0] == '/')
        n = asprintf(&dir, "%s/.cache/memprof/debug", home);
    else
        return NULL;
    return n < 0 ? NULL : dir;
}

/* mkdir -p, private to the user where it creates. */
static int make_dirs(char *dir)
{
    for (char *p = dir + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        int rc = mkdir(dir, 0700);
        *p = c;
        if (rc != 0 && errno != EEXIST)
            return -1;
        if (c == '\0')
            return 0;
    }
}

/* Does the file have a compressed DWARF section, and nothing that ties it
 * to its directory (a .gnu_debugaltlink may name its dwz file relatively)? */
static int worth_inflating(Elf *elf)
{
    size_t shstrndx;
    if (elf_kind(elf) != ELF_K_ELF || elf_getshdrstrndx(elf, &shstrndx) != 0)
        return 0;
    int compressed = 0;
    for (Elf_Scn *scn = NULL; (scn = elf_nextscn(elf, scn)) != NULL;) {
        GElf_Shdr shdr;
        if (gelf_getshdr(scn, &shdr) == NULL)
            return 0;
        const char *name = elf_strptr(elf, shstrndx, shdr.sh_name);
        if (name == NULL)
            return 0;
        if (strcmp(name, ".gnu_debugaltlink") == 0 || strncmp(name, ".zdebug", 7) == 0)
            return 0;
        if ((shdr.sh_flags & SHF_COMPRESSED) && strncmp(name, ".debug_", 7) == 0)
            compressed = 1;
    }
    return compressed;
}

/* Is the copy at fd whole: an ELF file whose section table and sections
 * lie within it, none of them compressed? */
static int copy_is_whole(int fd)
{
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid())
        return 0;
    Elf *elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
    if (elf == NULL)
        return 0;
    int whole = elf_kind(elf) == ELF_K_ELF;
    GElf_Ehdr ehdr;
    size_t shnum = 0;
    if (whole && (gelf_getehdr(elf, &ehdr) == NULL || elf_getshdrnum(elf, &shnum) != 0 ||
                  ehdr.e_shoff + (uint64_t)shnum * ehdr.e_shentsize > (uint64_t)st.st_size))
        whole = 0;
    for (Elf_Scn *scn = NULL; whole && (scn = elf_nextscn(elf, scn)) != NULL;) {
        GElf_Shdr shdr;
        if (gelf_getshdr(scn, &shdr) == NULL || (shdr.sh_flags & SHF_COMPRESSED) ||
            (shdr.sh_type != SHT_NOBITS && (shdr.sh_offset > (uint64_t)st.st_size ||
                                            shdr.sh_size > (uint64_t)st.st_size - shdr.sh_offset)))
            whole = 0;
    }
    elf_end(elf);
    return whole;
}

/* The copy's name: the file's own, and a hash of what identifies its
 * contents (FNV-1a). */
static char *copy_name(const char *dir, const char *path, const struct stat *st)
{
    const uint64_t parts[] = { st->st_dev, st->st_ino, (uint64_t)st->st_size, (uint64_t)st->st_mtim.tv_sec,
                               (uint64_t)st->st_mtim.tv_nsec, (uint64_t)st->st_ctim.tv_sec,
                               (uint64_t)st->st_ctim.tv_nsec };
    uint64_t h = 1469598103934665603ull;
    const unsigned char *b = (const unsigned char *)parts;
    for (size_t i = 0; i < sizeof parts; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    char *name = NULL;
    if (asprintf(&name, "%s/%.*s-%016llx", dir, NAME_MAX_KEPT, base[0] && base[0] != '.' ? base : "debug",
                 (unsigned long long)h) < 0)
        return NULL;
    return name;
}

/* Copies fd's bytes into out. */
static int copy_bytes(int fd, int out)
{
    char buf[1 << 16];
    for (off_t at = 0;;) {
        ssize_t n = pread(fd, buf, sizeof buf, at);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n == 0 ? 0 : -1;
        for (ssize_t done = 0; done < n;) {
            ssize_t w = write(out, buf + done, (size_t)(n - done));
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                return -1;
            done += w;
        }
        at += n;
    }
}

/* Writes the inflated copy of fd at `path` (under a temporary name first). */
static int write_copy(int fd, const char *path)
{
    char *tmp = NULL;
    if (asprintf(&tmp, "%s.XXXXXX", path) < 0)
        return -1;
    int out = mkostemp(tmp, O_CLOEXEC);
    if (out < 0) {
        free(tmp);
        return -1;
    }
    int ok = copy_bytes(fd, out) == 0;
    Elf *elf = ok ? elf_begin(out, ELF_C_RDWR, NULL) : NULL;
    ok = elf != NULL;
    for (Elf_Scn *scn = NULL; ok && (scn = elf_nextscn(elf, scn)) != NULL;) {
        GElf_Shdr shdr;
        if (gelf_getshdr(scn, &shdr) == NULL)
            ok = 0;
        else if ((shdr.sh_flags & SHF_COMPRESSED) && elf_compress(scn, 0, 0) < 0)
            ok = 0;
    }
    ok = ok && elf_update(elf, ELF_C_WRITE) >= 0;
    if (elf)
        elf_end(elf);
    ok = close(out) == 0 && ok;
    ok = ok && rename(tmp, path) == 0;
    if (!ok)
        unlink(tmp);
    free(tmp);
    return ok ? 0 : -1;
}

int sym_debug_cache_open(int fd, const char *path, const unsigned char *build_id, int id_len, char **cached_path)
{
    struct stat st;
    if (!cache_enabled() || path == NULL || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        return -1;
    elf_version(EV_CURRENT);
    Elf *elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
    int worth = elf && worth_inflating(elf);
    if (worth && build_id) { /* the file must be the module's (a stale link in .build-id is not) */
        const void *id = NULL;
        worth = dwelf_elf_gnu_build_id(elf, &id) == id_len && memcmp(id, build_id, (size_t)id_len) == 0;
    }
    if (elf)
        elf_end(elf);
    char *dir = worth ? cache_dir() : NULL;
    char *copy = dir ? copy_name(dir, path, &st) : NULL;
    int cached = -1;
    for (int attempt = 0; copy && cached < 0 && attempt < 2; attempt++) {
        cached = open(copy, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (cached >= 0 && !copy_is_whole(cached)) {
            struct stat cst;
            /* a copy of ours that is not whole is made again; anything else is left alone */
            int ours = fstat(cached, &cst) == 0 && S_ISREG(cst.st_mode) && cst.st_uid == geteuid();
            close(cached);
            cached = -1;
            if (!ours || attempt > 0)
                break;
        }
        if (cached < 0 && attempt == 0 && (make_dirs(dir) != 0 || write_copy(fd, copy) != 0))
            break;
    }
    free(dir);
    if (cached < 0) {
        free(copy);
        return -1;
    }
    *cached_path = copy;
    return cached;
}

/* libdwfl's standard search looks in /usr/lib/debug/.build-id first and
 * opens what it finds there itself (a descriptor returned afterwards would
 * not be read): so that place is looked at here first, as libdwfl would
 * with the default search path, and its file replaced by its copy. */
static int find_by_build_id(Dwfl_Module *mod, char **debuginfo_file_name)
{
    const unsigned char *id;
    GElf_Addr vaddr;
    int len = dwfl_module_build_id(mod, &id, &vaddr);
    if (len < 2 || len > 64)
        return -1;
    char path[64 + 2 * 64 + 16];
    int at = snprintf(path, sizeof path, "/usr/lib/debug/.build-id/%02x/", id[0]);
    for (int i = 1; i < len; i++)
        at += snprintf(path + at, sizeof path - (size_t)at, "%02x", id[i]);
    snprintf(path + at, sizeof path - (size_t)at, ".debug");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    char *cached_path = NULL;
    int cached = sym_debug_cache_open(fd, path, id, len, &cached_path);
    close(fd);
    if (cached < 0)
        return -1;
    free(*debuginfo_file_name);
    *debuginfo_file_name = cached_path;
    return cached;
}

int sym_debug_cache_find(Dwfl_Module *mod, void **userdata, const char *modname, Dwarf_Addr base,
                         const char *file_name, const char *debuglink_file, GElf_Word debuglink_crc,
                         char **debuginfo_file_name)
{
    int cached = cache_enabled() ? find_by_build_id(mod, debuginfo_file_name) : -1;
    if (cached >= 0)
        return cached;
    int fd = dwfl_standard_find_debuginfo(mod, userdata, modname, base, file_name, debuglink_file, debuglink_crc,
                                          debuginfo_file_name);
    if (fd < 0)
        return fd;
    char *cached_path = NULL;
    cached = sym_debug_cache_open(fd, *debuginfo_file_name, NULL, 0, &cached_path);
    if (cached < 0)
        return fd;
    close(fd);
    free(*debuginfo_file_name);
    *debuginfo_file_name = cached_path;
    return cached;
}
